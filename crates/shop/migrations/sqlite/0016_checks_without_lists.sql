-- The status checks of the four tables a payment writes, as comparisons instead of `IN` lists
-- (issue 23). SQLite evaluates `x IN (three or more constants)` by building a temporary b-tree of
-- the constants each time the statement runs: a CHECK written that way cost every INSERT or UPDATE
-- of its table about 1.6 µs, five times per payment, inside the writer's turn (perf: b-tree opens
-- and closes under the order, the hold's conversion, the outbox row and the event's row). The
-- same check written with `=` and `OR` costs nothing measurable. The rules are unchanged.
--
-- SQLite cannot change a CHECK in place: each table is rebuilt by SQLite's documented procedure,
-- as in 0004 and 0008 (migrations run with foreign keys off, so the tables that refer to these
-- keep referring to them by name), with the same columns in the same order, the same indexes, and
-- the AUTOINCREMENT counters of `orders` and `outbox` as they were (an order number is never
-- given twice, even that of a row no longer there).
CREATE TEMP TABLE caisse_sequences AS
    SELECT name, seq FROM sqlite_sequence WHERE name IN ('orders', 'outbox');

CREATE TABLE holds_new (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    client_ip           TEXT,
    email               TEXT,
    status              TEXT NOT NULL CHECK (status = 'active' OR status = 'awaiting_payment'
                                             OR status = 'released' OR status = 'converted'),
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
    idempotency_scope   TEXT,
    cancel_requested_at INTEGER,
    intent_tag          TEXT,
    shipping_offer      TEXT,
    stock_unsettled     BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO holds_new SELECT * FROM holds;
DROP TABLE holds;
ALTER TABLE holds_new RENAME TO holds;
CREATE INDEX holds_by_payment_intent ON holds (payment_intent_id);
CREATE UNIQUE INDEX holds_by_idempotency_scope ON holds (idempotency_scope, idempotency_key);
CREATE INDEX holds_by_status_id ON holds (status, id);
CREATE INDEX holds_by_customer_key ON holds (customer_id, idempotency_key);
CREATE INDEX holds_stock_unsettled ON holds (id) WHERE stock_unsettled;
CREATE INDEX holds_open_by_expiry ON holds (status, expires_at) WHERE status IN ('active', 'awaiting_payment');
CREATE INDEX holds_open_by_customer ON holds (customer_id, expires_at) WHERE status IN ('active', 'awaiting_payment');
CREATE INDEX holds_open_by_network ON holds (client_net, expires_at) WHERE status IN ('active', 'awaiting_payment');

CREATE TABLE orders_new (
    number               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    hold_id              TEXT NOT NULL UNIQUE REFERENCES holds (id),
    customer_id          TEXT NOT NULL,
    email                TEXT,
    status               TEXT NOT NULL CHECK (status = 'paid' OR status = 'needs_attention'
                                              OR status = 'refunded'),
    amount_total         INTEGER NOT NULL CHECK (amount_total >= 0),
    currency             TEXT NOT NULL CHECK (length(currency) = 3),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    attention_reason     TEXT CHECK (attention_reason IS NULL OR attention_reason = 'amount_mismatch'
                                     OR attention_reason = 'paid_without_stock'),
    customer_name        TEXT,
    phone                TEXT,
    shipping_name        TEXT,
    shipping_line1       TEXT,
    shipping_line2       TEXT,
    shipping_postal_code TEXT,
    shipping_city        TEXT,
    shipping_state       TEXT,
    shipping_country     TEXT,
    shipping_rate_id     TEXT,
    shipping_rate_name   TEXT,
    amount_subtotal      INTEGER CHECK (amount_subtotal IS NULL OR amount_subtotal >= 0),
    amount_shipping      INTEGER NOT NULL DEFAULT 0 CHECK (amount_shipping >= 0),
    fulfilment           TEXT NOT NULL DEFAULT 'unfulfilled'
                         CHECK (fulfilment = 'unfulfilled' OR fulfilment = 'shipped'
                                OR fulfilment = 'delivered'),
    carrier              TEXT,
    tracking_code        TEXT,
    tracking_url         TEXT,
    shipped_at           INTEGER,
    delivered_at         INTEGER,
    dispute              TEXT CHECK (dispute IS NULL OR dispute = 'open' OR dispute = 'won'
                                     OR dispute = 'lost')
);
INSERT INTO orders_new SELECT * FROM orders;
DROP TABLE orders;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX orders_by_email ON orders (email);
CREATE INDEX orders_by_created ON orders (created_at, currency, amount_total);

CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    dedup_key       TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'pending' OR status = 'sent' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    lease_token     TEXT
);
INSERT INTO outbox_new SELECT * FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_by_status_age ON outbox (status, created_at);
CREATE INDEX outbox_due ON outbox (status, kind, next_attempt_at);

CREATE TABLE webhook_events_new (
    stripe_event_id TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    livemode        BOOLEAN NOT NULL CHECK (livemode IN (0, 1)),
    api_version     TEXT,
    stripe_created  INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'received' OR status = 'processed'
                                         OR status = 'ignored' OR status = 'failed'),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    received_at     INTEGER NOT NULL,
    processed_at    INTEGER,
    source          TEXT NOT NULL DEFAULT 'webhook' CHECK (source IN ('webhook', 'replay')),
    reason          TEXT
);
INSERT INTO webhook_events_new SELECT * FROM webhook_events;
DROP TABLE webhook_events;
ALTER TABLE webhook_events_new RENAME TO webhook_events;
CREATE INDEX webhook_events_by_received ON webhook_events (received_at, stripe_event_id);
CREATE INDEX webhook_events_by_status_page ON webhook_events (status, received_at, stripe_event_id);
CREATE INDEX webhook_events_by_type ON webhook_events (type, received_at, stripe_event_id);

-- The counters as they were: the copies set them to the largest number copied.
DELETE FROM sqlite_sequence WHERE name IN ('orders', 'outbox');
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM caisse_sequences;
DROP TABLE caisse_sequences;
