-- A checkout's reservation locks its product's row until the commit, and every checkout of a
-- popular product waits for that lock (issue 23), so the reservation is the hold's last statement.
-- Its items are written before it, and their foreign key to `products` is checked at the commit:
-- checked at the insert, it took a share lock on the product row that every checkout held at
-- once (a multixact the reservation then waited on); at the commit the transaction already holds
-- the row's update lock. The key is still checked on every commit. (SQLite takes no row locks and
-- keeps the key checked at once.)
ALTER TABLE hold_items ALTER CONSTRAINT hold_items_product_id_fkey DEFERRABLE INITIALLY DEFERRED;
