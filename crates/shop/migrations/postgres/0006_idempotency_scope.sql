-- An Idempotency-Key is scoped to its client: the signed-in customer, or for guests the client
-- network, so that a cookieless double click (two new guests) is one checkout.
ALTER TABLE holds ADD COLUMN idempotency_scope TEXT;
CREATE UNIQUE INDEX holds_by_idempotency_scope ON holds (idempotency_scope, idempotency_key);
