//! The declaration of every setting: its variable, its default, whether it is secret, and what it
//! does. The reader takes its defaults from here, `caisse config check` prints these settings in
//! this order, and a test holds the README's configuration table to it (names and defaults).
//!
//! A default may name another setting in braces (`http://{CAISSE_LISTEN}`): the reader fills it
//! in with that setting's effective value. An empty default means "none".

/// One setting: its variable, its default, whether its value is secret, and what it does.
pub struct Setting {
    pub name: &'static str,
    pub default: &'static str,
    pub secret: bool,
    pub doc: &'static str,
}

const fn setting(
    name: &'static str,
    default: &'static str,
    secret: bool,
    doc: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        secret,
        doc,
    }
}

pub const DATABASE_URL: &str = "DATABASE_URL";
pub const LISTEN: &str = "CAISSE_LISTEN";
pub const METRICS_LISTEN: &str = "CAISSE_METRICS_LISTEN";
pub const PUBLIC_URL: &str = "CAISSE_PUBLIC_URL";
pub const SUCCESS_URL: &str = "CAISSE_SUCCESS_URL";
pub const CANCEL_URL: &str = "CAISSE_CANCEL_URL";
pub const SECRET_KEY: &str = "STRIPE_SECRET_KEY";
pub const PUBLISHABLE_KEY: &str = "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY";
pub const PUBLISHABLE_KEY_ALIAS: &str = "STRIPE_PUBLISHABLE_KEY";
pub const WEBHOOK_SECRET: &str = "STRIPE_WEBHOOK_SECRET";
pub const API_BASE: &str = "STRIPE_API_BASE";
pub const STRIPE_TIMEOUT: &str = "CAISSE_STRIPE_TIMEOUT_SECS";
pub const WEBHOOK_TOLERANCE: &str = "CAISSE_WEBHOOK_TOLERANCE_SECS";
pub const MAX_BODY: &str = "CAISSE_MAX_BODY_BYTES";
pub const REQUEST_TIMEOUT: &str = "CAISSE_REQUEST_TIMEOUT_SECS";
pub const HEADER_READ_TIMEOUT: &str = "CAISSE_HEADER_READ_TIMEOUT_SECS";
pub const IDLE_TIMEOUT: &str = "CAISSE_IDLE_TIMEOUT_SECS";
pub const MAX_CONNECTIONS: &str = "CAISSE_MAX_CONNECTIONS";
pub const MAX_CONNECTIONS_PER_IP: &str = "CAISSE_MAX_CONNECTIONS_PER_IP";
pub const LOG_FORMAT: &str = "CAISSE_LOG_FORMAT";
pub const HOLD_TTL: &str = "CAISSE_HOLD_TTL_SECS";
pub const MAX_LINE_QUANTITY: &str = "CAISSE_MAX_LINE_QUANTITY";
pub const MAX_CART_QUANTITY: &str = "CAISSE_MAX_CART_QUANTITY";
pub const RATE_PER_CUSTOMER: &str = "CAISSE_CHECKOUT_RATE_PER_CUSTOMER";
pub const RATE_PER_IP: &str = "CAISSE_CHECKOUT_RATE_PER_IP";
pub const MAX_OPEN_HOLDS: &str = "CAISSE_MAX_OPEN_HOLDS_PER_CUSTOMER";
pub const JWT_SECRET: &str = "CAISSE_JWT_SECRET";
pub const GUEST_SECRET: &str = "CAISSE_GUEST_COOKIE_SECRET";
pub const JWT_LEEWAY: &str = "CAISSE_JWT_LEEWAY_SECS";
pub const JWT_ISSUER: &str = "CAISSE_JWT_ISSUER";
pub const JWT_AUDIENCE: &str = "CAISSE_JWT_AUDIENCE";
pub const MAX_OPEN_HOLDS_PER_IP: &str = "CAISSE_MAX_OPEN_HOLDS_PER_IP";
pub const MAX_HELD_UNITS_PER_IP: &str = "CAISSE_MAX_HELD_UNITS_PER_IP";
pub const SHIPPING_COUNTRIES: &str = "CAISSE_SHIPPING_COUNTRIES";
pub const COLLECT_PHONE: &str = "CAISSE_COLLECT_PHONE";
pub const TRUSTED_PROXIES: &str = "CAISSE_TRUSTED_PROXIES";
pub const REDIS_URL: &str = "REDIS_URL";
pub const REDIS_TIMEOUT: &str = "CAISSE_REDIS_TIMEOUT_MS";
pub const SWEEP_INTERVAL: &str = "CAISSE_SWEEP_INTERVAL_SECS";
pub const CORS_ORIGINS: &str = "CAISSE_CORS_ORIGINS";
pub const RELEASE_ON_PAYMENT_FAILURE: &str = "CAISSE_RELEASE_ON_PAYMENT_FAILURE";
pub const REFUND_UNFULFILLABLE: &str = "CAISSE_REFUND_UNFULFILLABLE";
pub const SIGNATURE_ALERT_THRESHOLD: &str = "CAISSE_SIGNATURE_ALERT_THRESHOLD";
pub const SIGNATURE_ALERT_WINDOW: &str = "CAISSE_SIGNATURE_ALERT_WINDOW_SECS";
pub const SMTP_URL: &str = "SMTP_URL";
pub const MAIL_FROM: &str = "CAISSE_MAIL_FROM";
pub const SHOP_NAME: &str = "CAISSE_SHOP_NAME";
pub const MAIL: &str = "CAISSE_MAIL";
pub const MAIL_DIR: &str = "CAISSE_MAIL_DIR";
pub const MAIL_LANG: &str = "CAISSE_MAIL_LANG";
pub const OUTBOX_MAX_ATTEMPTS: &str = "CAISSE_OUTBOX_MAX_ATTEMPTS";
pub const OUTBOX_LEASE: &str = "CAISSE_OUTBOX_LEASE_SECS";
pub const ADMIN_PASSWORD_HASH: &str = "CAISSE_ADMIN_PASSWORD_HASH";
pub const ADMIN_MAX_CONCURRENT_SIGNINS: &str = "CAISSE_ADMIN_MAX_CONCURRENT_SIGNINS";
pub const STOREFRONT: &str = "CAISSE_STOREFRONT";
pub const RETENTION_DAYS: &str = "CAISSE_RETENTION_DAYS";
pub const ALERT_EMAIL: &str = "CAISSE_ALERT_EMAIL";
pub const ALERT_WEBHOOK_URL: &str = "CAISSE_ALERT_WEBHOOK_URL";
pub const ALERT_WEBHOOK_SECRET: &str = "CAISSE_ALERT_WEBHOOK_SECRET";
pub const TIME_ZONE: &str = "CAISSE_TIME_ZONE";

/// Every setting caisse reads, in the order `config check` prints them.
pub const SETTINGS: &[Setting] = &[
    setting(DATABASE_URL, "sqlite://caisse.db", true, "sqlite://PATH or postgres://…; picks the backend"),
    setting(LISTEN, "127.0.0.1:8080", false, "address the HTTP server binds"),
    setting(METRICS_LISTEN, "127.0.0.1:9464", false, "address of the Prometheus /metrics listener in serve (never the public one)"),
    setting(PUBLIC_URL, "http://{CAISSE_LISTEN}", false, "base URL customers reach caisse at"),
    setting(SUCCESS_URL, "{CAISSE_PUBLIC_URL}/?checkout=success&session_id={CHECKOUT_SESSION_ID}", false, "where Stripe sends a customer who paid"),
    setting(CANCEL_URL, "{CAISSE_PUBLIC_URL}/?checkout=cancelled", false, "where Stripe sends a customer who gave up"),
    setting(SECRET_KEY, "", true, "sk_… or rk_…; server only; required by serve"),
    setting(PUBLISHABLE_KEY, "", false, "pk_…; served by GET /api/config (alias STRIPE_PUBLISHABLE_KEY)"),
    setting(WEBHOOK_SECRET, "", true, "whsec_…[,whsec_…] (several during a rotation); required by serve"),
    setting(API_BASE, "https://api.stripe.com", false, "Stripe API base URL (the sandbox in dev)"),
    setting(STRIPE_TIMEOUT, "8", false, "time limit of one call to Stripe, in seconds (two retries follow a failure)"),
    setting(WEBHOOK_TOLERANCE, "300", false, "webhook timestamp tolerance in seconds, both ways; never 0"),
    setting(MAX_BODY, "1048576", false, "largest webhook body accepted (413 above); every other request's body at most 64 KiB, or this when smaller"),
    setting(REQUEST_TIMEOUT, "30", false, "time limit of one HTTP request, in seconds"),
    setting(HEADER_READ_TIMEOUT, "10", false, "a connection must send a whole request head within this many seconds (of connecting, or of its previous answer)"),
    setting(IDLE_TIMEOUT, "60", false, "a connection with no byte either way for this many seconds is closed (more than the request time limit)"),
    setting(MAX_CONNECTIONS, "10000", false, "open connections at most; one more is closed at once; lowered, with a warning, to what the file-descriptor limit holds"),
    setting(MAX_CONNECTIONS_PER_IP, "64", false, "open connections at most from one client address (IPv6: one /64), trusted proxies excepted; one more is closed at once"),
    setting(LOG_FORMAT, "human", false, "human or json"),
    setting(HOLD_TTL, "1800", false, "how long a checkout holds stock, 1800 to 86400 s (Stripe's expires_at range)"),
    setting(MAX_LINE_QUANTITY, "10", false, "largest quantity of one product in a cart"),
    setting(MAX_CART_QUANTITY, "50", false, "largest total quantity in a cart"),
    setting(RATE_PER_CUSTOMER, "5/min", false, "checkout creations per customer (N/sec|min|hour)"),
    setting(RATE_PER_IP, "30/min", false, "checkout creations per client IP (N/sec|min|hour)"),
    setting(MAX_OPEN_HOLDS, "3", false, "open holds one customer may have at once"),
    setting(MAX_OPEN_HOLDS_PER_IP, "10", false, "open holds one client IP (IPv6: one /64) may have at once, whatever its cookies"),
    setting(MAX_HELD_UNITS_PER_IP, "50", false, "units one client IP (IPv6: one /64) may hold at once"),
    setting(SHIPPING_COUNTRIES, "", false, "ISO 3166-1 alpha-2 codes (FR,BE) checkout collects a shipping address in, with the catalog's shipping rates; none: nothing ships"),
    setting(COLLECT_PHONE, "false", false, "true: checkout asks for a phone number"),
    setting(JWT_SECRET, "", true, "HS256 secret of the shop's sign-in tokens; without it, bearer tokens are refused"),
    setting(JWT_LEEWAY, "60", false, "seconds of clock difference forgiven on a token's exp and nbf"),
    setting(JWT_ISSUER, "", false, "when set, a token's iss must be this"),
    setting(JWT_AUDIENCE, "", false, "when set, a token's aud must name this"),
    setting(GUEST_SECRET, "", true, "key that signs guest cookies (>= 32 chars); required by serve, so that a restart or a second instance knows its guests (caisse dev makes one per run)"),
    setting(TRUSTED_PROXIES, "", false, "comma-separated proxy addresses and CIDR ranges (10.0.0.0/8, fd00::/8) whose X-Forwarded-For is believed"),
    setting(REDIS_URL, "", true, "redis://… to share the rate limit between instances"),
    setting(REDIS_TIMEOUT, "100", false, "time limit of every Redis call, in milliseconds; a failure or time-out limits in process for a cool-down"),
    setting(SWEEP_INTERVAL, "30", false, "how often the reconciler looks at holds past their expiry, in seconds"),
    setting(CORS_ORIGINS, "", false, "comma-separated browser origins allowed to call the API (a storefront on another origin)"),
    setting(RELEASE_ON_PAYMENT_FAILURE, "true", false, "true: a failed payment releases the hold at once; false: the hold waits for the session to expire"),
    setting(REFUND_UNFULFILLABLE, "false", false, "true: a payment that arrives when its stock is gone is refunded through Stripe"),
    setting(SIGNATURE_ALERT_THRESHOLD, "10", false, "webhook signature failures within the window that raise a signature_failures alert"),
    setting(SIGNATURE_ALERT_WINDOW, "300", false, "window of the signature-failure alert, in seconds"),
    setting(SMTP_URL, "", true, "smtp://host:port, smtps://user:pass@host, smtp://host:587?tls=required: where confirmation emails go"),
    setting(MAIL_FROM, "", false, "the From address of emails (required with SMTP_URL), e.g. Shop <orders@shop.example>"),
    setting(SHOP_NAME, "caisse", false, "the shop's name in emails"),
    setting(TIME_ZONE, "UTC", false, "IANA time zone (Europe/Paris) that audit sentences, alerts and the dashboard write dates in"),
    setting(MAIL, "on", false, "on, or off to send no email at all (serve refuses to start without a transport otherwise)"),
    setting(MAIL_DIR, "", false, "write each email as an .eml file in this folder instead of sending it (caisse dev: caisse-data/mail)"),
    setting(MAIL_LANG, "fr", false, "language of emails: fr or en"),
    setting(OUTBOX_MAX_ATTEMPTS, "10", false, "attempts before an outbox message (email, refund) is marked failed, with an alert"),
    setting(OUTBOX_LEASE, "120", false, "how long a worker owns an outbox message it is sending; a killed worker's message is due again after it"),
    setting(ADMIN_PASSWORD_HASH, "", true, "argon2id PHC string from `caisse admin hash-password`; without it /admin answers 404 (caisse dev makes a password and prints it)"),
    setting(ADMIN_MAX_CONCURRENT_SIGNINS, "2", false, "password checks (argon2, 19 MiB each) running at once in the process, whatever the client; the next waits up to 2 s, then gets 429"),
    setting(STOREFRONT, "false", false, "true: serve the demo storefront at / (always on in caisse dev)"),
    setting(RETENTION_DAYS, "90", false, "days after which webhook payloads, Stripe request traces and sent or failed outbox messages are pruned; at least 30"),
    setting(ALERT_EMAIL, "", false, "where critical alerts are emailed (comma-separated addresses); default: every owner among the named operators"),
    setting(ALERT_WEBHOOK_URL, "", true, "http(s) URL that receives each critical alert as JSON with a text field (Slack and Mattermost incoming webhooks)"),
    setting(ALERT_WEBHOOK_SECRET, "", true, "when set, each alert webhook carries Caisse-Signature: t=…,v1=HMAC-SHA256 of \"{t}.{body}\" under this secret"),
];

/// Other names accepted for a setting: `(alias, setting)`. The setting's own name wins when both
/// are set (and they must then agree).
pub const ALIASES: &[(&str, &str)] = &[(PUBLISHABLE_KEY_ALIAS, PUBLISHABLE_KEY)];

/// Variables named like settings that are not: the command line's `--config`, and the test
/// suites' own (`CAISSE_TEST_…` and those below), which may be set where caisse runs. Any other
/// `CAISSE_…` variable is reported as unknown (a typo would leave its setting at the default).
pub const NOT_SETTINGS: &[&str] = &["CAISSE_CONFIG", "CAISSE_SCREENSHOT_DIR", "CAISSE_CHROMIUM"];

/// The declaration of `name`, when it is a setting.
/// Secret settings whose URL is its own credential, all of it (an incoming webhook's): shown as
/// scheme and host only, where a connection URL shows everything but its password.
pub const CAPABILITY_URLS: &[&str] = &[ALERT_WEBHOOK_URL];

/// Secret connection URLs whose user name may be a credential (an SMTP relay's API token): user
/// and password masked, where a database URL shows its user.
pub const USER_IS_SECRET_URLS: &[&str] = &[SMTP_URL];

pub fn declared(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}
