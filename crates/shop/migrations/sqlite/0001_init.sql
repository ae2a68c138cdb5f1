-- caisse schema, SQLite flavour. Times are unix seconds (as Stripe's), money integer minor units.
-- The invariants live here, not only in the code: a bug or a hand-written UPDATE cannot break them.

CREATE TABLE products (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name            TEXT NOT NULL CHECK (length(name) >= 1),
    description     TEXT NOT NULL DEFAULT '',
    unit_amount     INTEGER NOT NULL CHECK (unit_amount >= 0),
    currency        TEXT NOT NULL CHECK (length(currency) = 3 AND currency = lower(currency)),
    stock_on_hand   INTEGER NOT NULL CHECK (stock_on_hand >= 0),
    stock_reserved  INTEGER NOT NULL DEFAULT 0 CHECK (stock_reserved >= 0),
    stripe_price_id TEXT,
    active          BOOLEAN NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (stock_reserved <= stock_on_hand)
);

CREATE TABLE holds (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    client_ip           TEXT,
    email               TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'released', 'converted')),
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
    UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX holds_open_by_expiry ON holds (status, expires_at);
CREATE INDEX holds_by_customer ON holds (customer_id, status);
CREATE INDEX holds_by_payment_intent ON holds (payment_intent_id);

CREATE TABLE hold_items (
    hold_id     TEXT NOT NULL REFERENCES holds (id),
    product_id  TEXT NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount INTEGER NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (hold_id, product_id)
);

CREATE TABLE orders (
    number       INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    hold_id      TEXT NOT NULL UNIQUE REFERENCES holds (id),
    customer_id  TEXT NOT NULL,
    email        TEXT,
    status       TEXT NOT NULL CHECK (status IN ('paid', 'needs_attention', 'refunded')),
    amount_total INTEGER NOT NULL CHECK (amount_total >= 0),
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE order_items (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    product_id  TEXT NOT NULL REFERENCES products (id),
    quantity    INTEGER NOT NULL CHECK (quantity > 0),
    unit_amount INTEGER NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    order_id            TEXT NOT NULL REFERENCES orders (id),
    payment_intent_id   TEXT NOT NULL UNIQUE,
    checkout_session_id TEXT,
    amount              INTEGER NOT NULL CHECK (amount >= 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    status              TEXT NOT NULL CHECK (status IN ('succeeded', 'refunded')),
    created_at          INTEGER NOT NULL
);

CREATE TABLE webhook_events (
    stripe_event_id TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    livemode        BOOLEAN NOT NULL CHECK (livemode IN (0, 1)),
    api_version     TEXT,
    stripe_created  INTEGER NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    received_at     INTEGER NOT NULL,
    processed_at    INTEGER
);
CREATE INDEX webhook_events_by_status ON webhook_events (status, received_at);

CREATE TABLE stripe_requests (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    idempotency_key TEXT,
    status          INTEGER,
    request_id      TEXT,
    duration_ms     INTEGER NOT NULL CHECK (duration_ms >= 0),
    error           TEXT,
    at              INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    message     TEXT NOT NULL
);
CREATE INDEX audit_log_by_entity ON audit_log (entity_type, entity_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message         TEXT NOT NULL,
    entity_type     TEXT,
    entity_id       TEXT,
    dedup_key       TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    dedup_key       TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
