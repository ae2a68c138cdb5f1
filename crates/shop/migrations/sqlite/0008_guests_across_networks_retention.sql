-- A guest whose phone moves from Wi-Fi to 4G retries its Idempotency-Key from another network:
-- the key is scoped by 0006's index, and the UNIQUE (customer_id, idempotency_key) of 0001 (kept
-- by 0004's rebuild) would answer that retry 409 for good. SQLite cannot drop a table constraint:
-- the holds table is rebuilt by SQLite's documented procedure, as in 0004 (migrations run with
-- foreign keys off, so hold_items and orders keep referring to the table by name), and a plain
-- index keeps the lookup of a guest's own key fast.
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
    client_net          TEXT,
    idempotency_scope   TEXT
);
INSERT INTO holds_new (id, customer_id, client_ip, email, status, amount_total, currency, expires_at,
                       checkout_session_id, payment_intent_id, idempotency_key, release_reason,
                       created_at, updated_at, released_at, checkout_url, next_check_at, checks,
                       client_net, idempotency_scope)
SELECT id, customer_id, client_ip, email, status, amount_total, currency, expires_at,
       checkout_session_id, payment_intent_id, idempotency_key, release_reason,
       created_at, updated_at, released_at, checkout_url, next_check_at, checks,
       client_net, idempotency_scope FROM holds;
DROP TABLE holds;
ALTER TABLE holds_new RENAME TO holds;
CREATE INDEX holds_open_by_expiry ON holds (status, expires_at);
CREATE INDEX holds_by_customer ON holds (customer_id, status);
CREATE INDEX holds_by_payment_intent ON holds (payment_intent_id);
CREATE INDEX holds_due_check ON holds (status, next_check_at);
CREATE INDEX holds_by_client_net ON holds (client_net, status, expires_at);
CREATE UNIQUE INDEX holds_by_idempotency_scope ON holds (idempotency_scope, idempotency_key);
CREATE INDEX holds_by_status_id ON holds (status, id);
CREATE INDEX holds_by_customer_key ON holds (customer_id, idempotency_key);
-- Retention (CAISSE_RETENTION_DAYS) finds what is old by these.
CREATE INDEX stripe_requests_by_time ON stripe_requests (at);
CREATE INDEX outbox_by_status_age ON outbox (status, created_at);
