-- Hardening (issue 20). The cancel endpoint's claim on a hold: the first cancel asks Stripe to
-- expire the session and records when; every later cancel answers from the database.
ALTER TABLE holds ADD COLUMN cancel_requested_at INTEGER;

-- /readyz writes here (one row) to learn whether a write can complete now.
CREATE TABLE readiness_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);

-- Alerts counted together: the first payment_failed alerts of a product in an hour stand alone,
-- the rest fall into one grouped alert (a customer declining card after card raises a handful).
ALTER TABLE alerts ADD COLUMN group_key TEXT;
CREATE INDEX alerts_by_group ON alerts (group_key);

-- The password a dashboard session was signed in with (a SHA-256 of its hash): a session of an
-- earlier password is refused once the hash changes. Sessions from before this column: none.
ALTER TABLE admin_sessions ADD COLUMN password_fp TEXT NOT NULL DEFAULT '';
