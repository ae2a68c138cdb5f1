-- caisse schema, PostgreSQL flavour. Same tables, columns and constraints as the SQLite one.
-- Times are unix seconds (as Stripe's), money integer minor units.

CREATE TABLE products (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name            TEXT NOT NULL CHECK (length(name) >= 1),
    description     TEXT NOT NULL DEFAULT '',
    unit_amount     BIGINT NOT NULL CHECK (unit_amount >= 0),
    currency        TEXT NOT NULL CHECK (length(currency) = 3 AND currency = lower(currency)),
    stock_on_hand   BIGINT NOT NULL CHECK (stock_on_hand >= 0),
    stock_reserved  BIGINT NOT NULL DEFAULT 0 CHECK (stock_reserved >= 0),
    stripe_price_id TEXT,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (stock_reserved <= stock_on_hand)
);

CREATE TABLE holds (
    id                  TEXT PRIMARY KEY,
    customer_id         TEXT NOT NULL,
    client_ip           TEXT,
    email               TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'released', 'converted')),
    amount_total        BIGINT NOT NULL CHECK (amount_total >= 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    expires_at          BIGINT NOT NULL,
    checkout_session_id TEXT UNIQUE,
    payment_intent_id   TEXT,
    idempotency_key     TEXT,
    release_reason      TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    released_at         BIGINT,
    UNIQUE (customer_id, idempotency_key)
);
CREATE INDEX holds_open_by_expiry ON holds (status, expires_at);
CREATE INDEX holds_by_customer ON holds (customer_id, status);
CREATE INDEX holds_by_payment_intent ON holds (payment_intent_id);

CREATE TABLE hold_items (
    hold_id     TEXT NOT NULL REFERENCES holds (id),
    product_id  TEXT NOT NULL REFERENCES products (id),
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    unit_amount BIGINT NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (hold_id, product_id)
);

CREATE TABLE orders (
    number       BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    hold_id      TEXT NOT NULL UNIQUE REFERENCES holds (id),
    customer_id  TEXT NOT NULL,
    email        TEXT,
    status       TEXT NOT NULL CHECK (status IN ('paid', 'needs_attention', 'refunded')),
    amount_total BIGINT NOT NULL CHECK (amount_total >= 0),
    currency     TEXT NOT NULL CHECK (length(currency) = 3),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE order_items (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    product_id  TEXT NOT NULL REFERENCES products (id),
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    unit_amount BIGINT NOT NULL CHECK (unit_amount >= 0),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    order_id            TEXT NOT NULL REFERENCES orders (id),
    payment_intent_id   TEXT NOT NULL UNIQUE,
    checkout_session_id TEXT,
    amount              BIGINT NOT NULL CHECK (amount >= 0),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    status              TEXT NOT NULL CHECK (status IN ('succeeded', 'refunded')),
    created_at          BIGINT NOT NULL
);

CREATE TABLE webhook_events (
    stripe_event_id TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    livemode        BOOLEAN NOT NULL,
    api_version     TEXT,
    stripe_created  BIGINT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error      TEXT,
    received_at     BIGINT NOT NULL,
    processed_at    BIGINT
);
CREATE INDEX webhook_events_by_status ON webhook_events (status, received_at);

CREATE TABLE stripe_requests (
    id              BIGSERIAL PRIMARY KEY,
    method          TEXT NOT NULL,
    path            TEXT NOT NULL,
    idempotency_key TEXT,
    status          BIGINT,
    request_id      TEXT,
    duration_ms     BIGINT NOT NULL CHECK (duration_ms >= 0),
    error           TEXT,
    at              BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    message     TEXT NOT NULL
);
CREATE INDEX audit_log_by_entity ON audit_log (entity_type, entity_id);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE alerts (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    severity        TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message         TEXT NOT NULL,
    entity_type     TEXT,
    entity_id       TEXT,
    dedup_key       TEXT UNIQUE,
    created_at      BIGINT NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by TEXT
);

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    dedup_key       TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
