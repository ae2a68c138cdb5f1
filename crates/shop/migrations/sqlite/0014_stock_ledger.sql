-- A sale from a reservation no longer updates its products in the paying transaction (issue 23):
-- the hold is marked `stock_unsettled`, and its units stay counted in both `stock_on_hand` and
-- `stock_reserved` (what is available, their difference, is the same before and after a sale)
-- until the settle worker folds them in. Reads subtract the unsettled units (store/stock_settle.rs).
-- (PostgreSQL also drops the order lines' foreign key to products, for its lock; SQLite takes
-- no row locks, and its check costs one index probe.)
ALTER TABLE holds ADD COLUMN stock_unsettled BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX holds_stock_unsettled ON holds (id) WHERE stock_unsettled;
