-- The dashboard: its sessions (the cookie's SHA-256, never the cookie), and the indexes its pages
-- search and page by, so that a page stays fast with 100,000 orders.
CREATE TABLE admin_sessions (
    token_hash TEXT PRIMARY KEY,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at);

-- Which hold or order a call to Stripe was for, read off its idempotency key (caisse-{id}-{why}).
ALTER TABLE stripe_requests ADD COLUMN subject TEXT;
CREATE INDEX stripe_requests_by_subject ON stripe_requests (subject);

CREATE INDEX orders_by_email ON orders (email);
-- Covering: the overview sums 30 days of orders from the index alone.
CREATE INDEX orders_by_created ON orders (created_at, currency, amount_total);
CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX webhook_events_by_received ON webhook_events (received_at, stripe_event_id);
-- One status or one type, already in the page's order (the id breaks ties).
CREATE INDEX webhook_events_by_status_page ON webhook_events (status, received_at, stripe_event_id);
CREATE INDEX webhook_events_by_type ON webhook_events (type, received_at, stripe_event_id);
CREATE INDEX holds_by_status_id ON holds (status, id);
