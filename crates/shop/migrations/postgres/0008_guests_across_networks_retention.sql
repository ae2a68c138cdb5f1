-- A guest whose phone moves from Wi-Fi to 4G retries its Idempotency-Key from another network:
-- the key is scoped by 0006's index, and the first migration's UNIQUE (customer_id,
-- idempotency_key) would answer that retry 409 for good. It goes; a plain index keeps the
-- lookup of a guest's own key fast.
ALTER TABLE holds DROP CONSTRAINT IF EXISTS holds_customer_id_idempotency_key_key;
CREATE INDEX holds_by_customer_key ON holds (customer_id, idempotency_key);
-- Retention (CAISSE_RETENTION_DAYS) finds what is old by these.
CREATE INDEX stripe_requests_by_time ON stripe_requests (at);
CREATE INDEX outbox_by_status_age ON outbox (status, created_at);
