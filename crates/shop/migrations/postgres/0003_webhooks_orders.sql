-- What webhooks add: why an order needs attention, refunds on a payment, where an event came from
-- (the endpoint or `events replay`) and why it was ignored.
ALTER TABLE orders ADD COLUMN attention_reason TEXT
    CHECK (attention_reason IS NULL OR attention_reason IN ('amount_mismatch', 'paid_without_stock'));
ALTER TABLE payments ADD COLUMN amount_refunded BIGINT NOT NULL DEFAULT 0
    CHECK (amount_refunded >= 0);
ALTER TABLE payments ADD CONSTRAINT payments_refund_within_amount CHECK (amount_refunded <= amount);
ALTER TABLE webhook_events ADD COLUMN source TEXT NOT NULL DEFAULT 'webhook'
    CHECK (source IN ('webhook', 'replay'));
ALTER TABLE webhook_events ADD COLUMN reason TEXT;
CREATE INDEX payments_by_order ON payments (order_id);
CREATE INDEX alerts_open ON alerts (acknowledged_at, created_at);
