-- Named operators of the dashboard (issue 22): each with a role, an argon2id password hash and an
-- optional TOTP secret. CAISSE_ADMIN_PASSWORD_HASH stays a single owner with no row here.
CREATE TABLE admin_operators (
    email TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
    password_hash TEXT NOT NULL,
    -- Base32, as the authenticator app was given it: the code is computed from it.
    totp_secret TEXT,
    -- The last 30 s step whose code signed in: a code is accepted once.
    totp_last_step BIGINT,
    created_at BIGINT NOT NULL
);

-- Whose session: an operator's email, or NULL for the owner of CAISSE_ADMIN_PASSWORD_HASH.
ALTER TABLE admin_sessions ADD COLUMN operator_email TEXT;
CREATE INDEX admin_sessions_by_operator ON admin_sessions (operator_email);

-- Low stock: the level at or below which available stock (on hand minus held) raises one
-- `low_stock` alert (NULL: never), and whether it is at or below it now, so that one crossing
-- makes one alert and the next comes only after stock rose above it.
ALTER TABLE products ADD COLUMN low_stock_threshold BIGINT CHECK (low_stock_threshold >= 0);
ALTER TABLE products ADD COLUMN low_stock_alerted BOOLEAN NOT NULL DEFAULT FALSE;

-- Critical alerts reach people: whether an alert still has to be emailed and posted to the alert
-- webhook (set for a critical alert when it is raised; earlier alerts are not sent), and when each
-- alert kind was last emailed (at most one email per kind per 15 minutes, then a digest).
ALTER TABLE alerts ADD COLUMN mail_pending BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE alerts ADD COLUMN hook_pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX alerts_to_send ON alerts (mail_pending, hook_pending);
CREATE TABLE alert_mail_state (
    kind TEXT PRIMARY KEY,
    last_sent_at BIGINT NOT NULL
);
