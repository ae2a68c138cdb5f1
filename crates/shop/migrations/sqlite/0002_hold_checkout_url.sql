-- The hosted page URL of a hold's Checkout Session, so a repeated request (a double click with the
-- same Idempotency-Key) gets the same answer without asking Stripe again.
ALTER TABLE holds ADD COLUMN checkout_url TEXT;
