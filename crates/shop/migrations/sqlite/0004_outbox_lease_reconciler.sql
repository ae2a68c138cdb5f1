-- The outbox worker's lease, and the reconciler's state: a hold whose session completed without
-- the money yet (a SEPA debit) is `awaiting_payment`, and every hold it looks at gets the time of
-- its next look, so that no batch of stuck holds can starve the others.
-- SQLite cannot change a CHECK in place: the holds table is rebuilt by SQLite's documented
-- procedure (new table, copy, drop, rename). Store::migrate runs migrations on a connection with
-- foreign keys off, so the drop does not cascade to hold_items and orders, which refer to the
-- table by name and find the new one.
ALTER TABLE outbox ADD COLUMN lease_token TEXT;
CREATE TABLE holds_new (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    client_ip           TEXT,
    email               TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'awaiting_payment', 'released', 'converted')),
    amount_total        INTEGER NOT NULL CHECK (amount_total >= 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    expires_at          INTEGER NOT NULL,
    checkout_session_id TEXT UNIQUE,
    payment_intent_id   TEXT,
    idempotency_key     TEXT,
    release_reason      TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    released_at         INTEGER,
    checkout_url        TEXT,
    next_check_at       INTEGER,
    checks              INTEGER NOT NULL DEFAULT 0 CHECK (checks >= 0),
    UNIQUE (customer_id, idempotency_key)
);
INSERT INTO holds_new (id, customer_id, client_ip, email, status, amount_total, currency, expires_at,
                       checkout_session_id, payment_intent_id, idempotency_key, release_reason,
                       created_at, updated_at, released_at, checkout_url)
SELECT id, customer_id, client_ip, email, status, amount_total, currency, expires_at,
       checkout_session_id, payment_intent_id, idempotency_key, release_reason,
       created_at, updated_at, released_at, checkout_url FROM holds;
DROP TABLE holds;
ALTER TABLE holds_new RENAME TO holds;
CREATE INDEX holds_open_by_expiry ON holds (status, expires_at);
CREATE INDEX holds_by_customer ON holds (customer_id, status);
CREATE INDEX holds_by_payment_intent ON holds (payment_intent_id);
CREATE INDEX holds_due_check ON holds (status, next_check_at);
