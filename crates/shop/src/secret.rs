//! `Secret`: a string that never shows itself.
//!
//! Stripe keys, webhook secrets and signing keys live in this type from the moment they are read, so a
//! stray `{:?}` in a log line or an error message prints a mask instead of the value. Only
//! [`Secret::expose`] gives the value out, and every call of it is a place a reviewer should look at.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: for signing, for an `Authorization` header. Never for display.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What may be shown: the key's kind (`sk_test_`, `whsec_`, …) and nothing of the key.
    pub fn masked(&self) -> String {
        let kind = KNOWN_PREFIXES
            .iter()
            .find(|p| self.0.starts_with(**p))
            .copied()
            .unwrap_or("");
        format!("{kind}****")
    }
}

/// A connection URL fit for display: any password replaced by `****`
/// (`postgres://caisse:****@db/caisse`).
pub fn redact_url(url: &str) -> String {
    let (url, query) = match url.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (url, None),
    };
    // `?password=…` (and `pass=`, `pwd=`) is a password too.
    let query = query.map(|q| {
        q.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if is_secret_name(k) => format!("{k}=****"),
                _ => pair.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    let shown = redact_authority(url);
    match query {
        Some(q) => format!("{shown}?{q}"),
        None => shown,
    }
}

/// A URL that is its own credential (an incoming webhook's: Slack's carries its token in the
/// path), fit for display: its scheme and host only (`https://hooks.slack.com/****`).
pub fn redact_capability_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Secret::new(url.to_string()).masked();
    };
    // The host starts after the last `@`, whatever a password holds.
    let from = rest.rfind('@').map_or(0, |at| at + 1);
    // A `\` is a `/` to browsers and WHATWG URL parsers.
    let end = rest[from..]
        .find(['/', '?', '#', '\\'])
        .map_or(rest.len(), |i| from + i);
    let host = &rest[from..end];
    let shown = if from > 0 {
        format!("{scheme}://****@{host}")
    } else {
        format!("{scheme}://{host}")
    };
    if end < rest.len() {
        format!("{shown}/****")
    } else {
        shown
    }
}

/// A connection URL whose user name may be the credential itself (an SMTP relay's API token as
/// the user, as Postmark's and others' are), fit for display: user and password masked, host,
/// port and path kept (`smtps://****:****@mail.example:465`).
pub fn redact_url_user(url: &str) -> String {
    let shown = redact_url(url);
    let Some((scheme, rest)) = shown.split_once("://") else {
        return shown;
    };
    let Some(at) = rest.rfind('@') else {
        return shown;
    };
    let masked = if rest[..at].contains(':') {
        "****:****"
    } else {
        "****"
    };
    format!("{scheme}://{masked}{}", &rest[at..])
}

/// A query parameter that carries a secret: its name, percent-decoded and in any case, mentions a
/// password, a secret or a token (`password`, `sslpassword`, `pass%77ord`, `auth_token` …).
fn is_secret_name(name: &str) -> bool {
    // A name that does not decode is masked: a harmless parameter hidden costs less than a
    // password shown.
    let Ok(name) = caisse_stripe::form::percent_decode(name, false) else {
        return true;
    };
    let name = name.to_ascii_lowercase();
    ["pass", "pwd", "secret", "token"]
        .iter()
        .any(|w| name.contains(w))
}

fn redact_authority(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The last `@` ends the user part, even when an unencoded `/` sits in the password.
    let (authority, path) = match rest.rfind('@') {
        Some(at) => rest.split_at(rest[at..].find('/').map_or(rest.len(), |i| at + i)),
        None => rest.split_at(rest.find('/').unwrap_or(rest.len())),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let shown = if userinfo.contains(':') {
                format!("{user}:****")
            } else {
                user.to_string()
            };
            format!("{scheme}://{shown}@{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Prefixes that say what a key is without saying anything about the key.
const KNOWN_PREFIXES: &[&str] = &[
    "sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_", "whsec_",
];

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capability_url_shows_its_host_only() {
        assert_eq!(
            redact_capability_url("https://hooks.slack.com/services/T000/B000/XXXXsecretpath"),
            "https://hooks.slack.com/****"
        );
        assert_eq!(
            redact_capability_url("ftp://h.example?token=abc"),
            "ftp://h.example/****"
        );
        assert_eq!(
            redact_capability_url("https://u:pa/ss@h.example:8443/x"),
            "https://****@h.example:8443/****"
        );
        assert_eq!(
            redact_capability_url("https://xoxb-TOKEN@hooks.example.com/x"),
            "https://****@hooks.example.com/****"
        );
        assert_eq!(
            redact_capability_url("https://h.example"),
            "https://h.example"
        );
        assert_eq!(
            redact_capability_url("https://hooks.example.com\\SECRETBS"),
            "https://hooks.example.com/****"
        );
        assert!(!redact_capability_url("secretpath-without-scheme").contains("secretpath"));
    }

    #[test]
    fn an_smtp_url_hides_its_user_too() {
        assert_eq!(
            redact_url_user("smtp://apikey-SECRETUSER@smtp.example.com:587"),
            "smtp://****@smtp.example.com:587"
        );
        assert_eq!(
            redact_url_user("smtps://TOKEN:TOKEN@smtp.example.com:465?auth=plain"),
            "smtps://****:****@smtp.example.com:465?auth=plain"
        );
        assert_eq!(
            redact_url_user("smtp://mail.example:25"),
            "smtp://mail.example:25"
        );
    }

    #[test]
    fn urls_keep_everything_but_the_password() {
        assert_eq!(
            redact_url("postgres://caisse:p%40ss@db:5432/caisse"),
            "postgres://caisse:****@db:5432/caisse"
        );
        assert_eq!(
            redact_url("redis://:hunter2@cache:6379"),
            "redis://:****@cache:6379"
        );
        assert_eq!(redact_url("sqlite://caisse.db"), "sqlite://caisse.db");
        assert_eq!(redact_url("postgres://user@db/x"), "postgres://user@db/x");
        assert_eq!(
            redact_url("smtp://user:p/ss@127.0.0.1:2604"),
            "smtp://user:****@127.0.0.1:2604"
        );
        assert_eq!(
            redact_url("postgres://db/x?sslpassword=a&pass%77ord=b&PASSWORD%3D=c&auth_token=d&x=1"),
            "postgres://db/x?sslpassword=****&pass%77ord=****&PASSWORD%3D=****&auth_token=****&x=1"
        );
        assert_eq!(
            redact_url("postgres://db/x?user=u&password=hunter2&sslmode=require"),
            "postgres://db/x?user=u&password=****&sslmode=require"
        );
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk_test_51Habcdefghijklmnop");
        assert_eq!(format!("{s:?}"), "Secret(sk_test_****)");
        assert_eq!(s.to_string(), "sk_test_****");
        assert_eq!(Secret::new("hunter2").to_string(), "****");
        assert_eq!(s.expose(), "sk_test_51Habcdefghijklmnop");
    }
}
