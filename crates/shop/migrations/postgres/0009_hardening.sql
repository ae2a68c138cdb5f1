-- Hardening (issue 20). The cancel endpoint's claim on a hold: the first cancel asks Stripe to
-- expire the session and records when; every later cancel answers from the database.
ALTER TABLE holds ADD COLUMN cancel_requested_at BIGINT;

-- /readyz writes here (one row) to learn whether a write can complete now.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at BIGINT NOT NULL
);
