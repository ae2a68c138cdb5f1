-- The outbox worker's lease, and the reconciler's state: a hold whose session completed without
-- the money yet (a SEPA debit) is `awaiting_payment`, and every hold it looks at gets the time of
-- its next look, so that no batch of stuck holds can starve the others.
ALTER TABLE outbox ADD COLUMN lease_token TEXT;
ALTER TABLE holds DROP CONSTRAINT holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check
    CHECK (status IN ('active', 'awaiting_payment', 'released', 'converted'));
ALTER TABLE holds ADD COLUMN next_check_at BIGINT;
ALTER TABLE holds ADD COLUMN checks BIGINT NOT NULL DEFAULT 0 CHECK (checks >= 0);
CREATE INDEX holds_due_check ON holds (status, next_check_at);
