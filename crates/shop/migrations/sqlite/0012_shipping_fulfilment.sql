-- Issue 21, from payment to parcel. Products that need no parcel (a gift card); the catalog's
-- shipping rates; the rates a hold offered Stripe (JSON, so the order names the one chosen
-- whatever the catalog became); on the order, what Stripe's session collected (name, phone,
-- address, rate, subtotal / shipping), its fulfilment and its dispute; on the payment, its last
-- failed refund.
ALTER TABLE products ADD COLUMN shipping BOOLEAN NOT NULL DEFAULT 1 CHECK (shipping IN (0, 1));
CREATE TABLE shipping_rates (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount >= 0),
    currency   TEXT NOT NULL CHECK (length(currency) = 3),
    min_days   INTEGER CHECK (min_days IS NULL OR min_days >= 0),
    max_days   INTEGER CHECK (max_days IS NULL OR max_days >= 0),
    free_over  INTEGER CHECK (free_over IS NULL OR free_over >= 0),
    position   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
ALTER TABLE holds ADD COLUMN shipping_offer TEXT;
ALTER TABLE orders ADD COLUMN customer_name TEXT;
ALTER TABLE orders ADD COLUMN phone TEXT;
ALTER TABLE orders ADD COLUMN shipping_name TEXT;
ALTER TABLE orders ADD COLUMN shipping_line1 TEXT;
ALTER TABLE orders ADD COLUMN shipping_line2 TEXT;
ALTER TABLE orders ADD COLUMN shipping_postal_code TEXT;
ALTER TABLE orders ADD COLUMN shipping_city TEXT;
ALTER TABLE orders ADD COLUMN shipping_state TEXT;
ALTER TABLE orders ADD COLUMN shipping_country TEXT;
ALTER TABLE orders ADD COLUMN shipping_rate_id TEXT;
ALTER TABLE orders ADD COLUMN shipping_rate_name TEXT;
ALTER TABLE orders ADD COLUMN amount_subtotal INTEGER CHECK (amount_subtotal IS NULL OR amount_subtotal >= 0);
ALTER TABLE orders ADD COLUMN amount_shipping INTEGER NOT NULL DEFAULT 0 CHECK (amount_shipping >= 0);
ALTER TABLE orders ADD COLUMN fulfilment TEXT NOT NULL DEFAULT 'unfulfilled'
    CHECK (fulfilment IN ('unfulfilled', 'shipped', 'delivered'));
ALTER TABLE orders ADD COLUMN carrier TEXT;
ALTER TABLE orders ADD COLUMN tracking_code TEXT;
ALTER TABLE orders ADD COLUMN tracking_url TEXT;
ALTER TABLE orders ADD COLUMN shipped_at INTEGER;
ALTER TABLE orders ADD COLUMN delivered_at INTEGER;
ALTER TABLE orders ADD COLUMN dispute TEXT CHECK (dispute IS NULL OR dispute IN ('open', 'won', 'lost'));
-- When Stripe last failed one of the payment's refunds (its event's `created`): a charge.refunded
-- written before it counts that refund, and must not raise the refunded amount back.
ALTER TABLE payments ADD COLUMN refund_failed_at BIGINT;
