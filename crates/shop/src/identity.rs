//! Who is checking out, as the checkout service sees it: a customer signed in on the shop
//! (`user:<sub>`, from an HS256 JWT whose `sub` is the customer id) or a guest (`guest:<id>`, from a
//! signed cookie value minted on the first call), and the network a client is counted under.
//!
//! Pure functions over strings and the identity settings: reading the token, the cookie and the
//! client address off a request is the HTTP layer's job (`crate::http`'s `Caller`).
//!
//! A bearer token that is present but invalid is refused outright: falling back to a guest would
//! let a broken sign-in silently split one customer into many identities (and rate budgets).

use std::net::IpAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::IdentityConfig;
/// Declared with the settings that fill it (`CAISSE_JWT_*`).
pub use crate::config::JwtRules;

type HmacSha256 = Hmac<Sha256>;

/// The name of the guest cookie.
pub const GUEST_COOKIE: &str = "caisse_guest";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// `user:<sub>` or `guest:<uuid>`.
    pub id: String,
    /// A guest cookie to set on the answer: this caller had none (or a forged one).
    pub new_guest_cookie: Option<String>,
}

impl Customer {
    /// A customer the shop's own sign-in vouches for (a valid bearer token), as opposed to a
    /// guest, whom nothing stops from being a new one on every request.
    pub fn is_signed_in(&self) -> bool {
        self.id.starts_with("user:")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("bearer tokens are not accepted: no CAISSE_JWT_SECRET is configured")]
    NoJwtSecret,
    #[error("invalid bearer token: {0}")]
    InvalidToken(&'static str),
}

/// The signed-in customer a bearer token names, at unix time `now`: refused when no JWT secret
/// is configured or the token does not verify.
pub fn signed_in(
    token: &str,
    config: &IdentityConfig,
    now: i64,
) -> Result<Customer, IdentityError> {
    let secret = config
        .jwt_secret
        .as_ref()
        .ok_or(IdentityError::NoJwtSecret)?;
    let sub = verify_jwt(token, secret.expose().as_bytes(), &config.jwt_rules, now)?;
    Ok(Customer {
        id: format!("user:{sub}"),
        new_guest_cookie: None,
    })
}

/// The guest named by the first of `cookies` (the guest cookie's values, in the order sent) that
/// verifies — not merely the first one — or a new guest with a fresh cookie value to set.
pub fn guest<'a>(cookies: impl IntoIterator<Item = &'a str>, config: &IdentityConfig) -> Customer {
    let key = config.guest_secret.expose().as_bytes();
    match cookies
        .into_iter()
        .find_map(|value| verify_guest(value, key))
    {
        Some(id) => Customer {
            id: format!("guest:{id}"),
            new_guest_cookie: None,
        },
        None => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let cookie = format!("{id}.{}", tag(key, id.as_bytes()));
            Customer {
                id: format!("guest:{id}"),
                new_guest_cookie: Some(cookie),
            }
        }
    }
}

fn tag(key: &[u8], data: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

/// The guest id a cookie value names when its signature holds.
fn verify_guest(value: &str, key: &[u8]) -> Option<String> {
    let (id, sig) = value.split_once('.')?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let sig = hex::decode(sig).ok()?;
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(id.as_bytes());
    mac.verify_slice(&sig).ok()?;
    Some(id.to_string())
}

/// The cookie value that names `customer_id` when it is a guest (`guest:<id>`).
pub fn guest_cookie_for(customer_id: &str, config: &IdentityConfig) -> Option<String> {
    let id = customer_id.strip_prefix("guest:")?;
    Some(format!(
        "{id}.{}",
        tag(config.guest_secret.expose().as_bytes(), id.as_bytes())
    ))
}

/// A NumericDate claim (RFC 7519): a JSON number of seconds, possibly fractional; anything else
/// (a string, an object) makes the token invalid.
fn numeric_date(claims: &serde_json::Value, name: &str) -> Result<Option<f64>, IdentityError> {
    match claims.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|t| t.is_finite())
            .map(Some)
            .ok_or(IdentityError::InvalidToken("a time claim is not a number")),
    }
}

/// Checks an HS256 JWT and returns its `sub`. Only HS256 is accepted (never `none`, never a
/// public-key algorithm a confused verifier would key with the secret); `exp` is required, `exp`
/// and `nbf` are compared as numbers with the leeway, `iss` and `aud` when the rules name them.
pub fn verify_jwt(
    token: &str,
    secret: &[u8],
    rules: &JwtRules,
    now: i64,
) -> Result<String, IdentityError> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::InvalidToken("not a JWT"));
    };
    let header: serde_json::Value = b64
        .decode(head)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(IdentityError::InvalidToken("unreadable header"))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(IdentityError::InvalidToken("only HS256 is accepted"));
    }
    // `crit` names header extensions the verifier must understand or refuse (RFC 7515, 4.1.11):
    // caisse understands none.
    if header.get("crit").is_some() {
        return Err(IdentityError::InvalidToken(
            "a crit header names extensions caisse does not understand",
        ));
    }
    let sig = b64
        .decode(sig)
        .map_err(|_| IdentityError::InvalidToken("unreadable signature"))?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(head.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| IdentityError::InvalidToken("bad signature"))?;
    let claims: serde_json::Value = b64
        .decode(body)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(IdentityError::InvalidToken("unreadable claims"))?;
    let (now, leeway) = (now as f64, rules.leeway as f64);
    match numeric_date(&claims, "exp")? {
        None => return Err(IdentityError::InvalidToken("no exp claim")),
        Some(exp) if now >= exp + leeway => return Err(IdentityError::InvalidToken("expired")),
        Some(_) => {}
    }
    if numeric_date(&claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(IdentityError::InvalidToken("not valid yet"));
    }
    if let Some(issuer) = &rules.issuer {
        if claims.get("iss").and_then(|i| i.as_str()) != Some(issuer.as_str()) {
            return Err(IdentityError::InvalidToken("wrong issuer"));
        }
    }
    if let Some(audience) = &rules.audience {
        let named = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => a == audience,
            Some(serde_json::Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !named {
            return Err(IdentityError::InvalidToken("wrong audience"));
        }
    }
    match claims.get("sub").and_then(|s| s.as_str()) {
        // Printable only: the id lands in the database, the audit log and log lines, where a
        // newline or an escape sequence would forge or garble a record.
        Some(sub) if sub.chars().any(char::is_control) => {
            Err(IdentityError::InvalidToken("sub has control characters"))
        }
        Some(sub) if !sub.is_empty() && sub.len() <= 200 => Ok(sub.to_string()),
        _ => Err(IdentityError::InvalidToken("no sub claim")),
    }
}

/// Signs claims as an HS256 JWT: what the shop's sign-in does; here for tests and tools.
pub fn sign_jwt(claims: &serde_json::Value, secret: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(claims.to_string());
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64.encode(mac.finalize().into_bytes()))
}

/// The key rate limits and hold caps count a client under: its IPv4 address, or its IPv6 /64
/// (one subscriber gets a whole /64 and can pick any address in it).
pub fn network_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// What this module's tests and the HTTP layer's identity tests sign with.
#[cfg(test)]
pub(crate) mod test_config {
    use crate::config::{IdentityConfig, JwtRules};
    use crate::secret::Secret;

    pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// A JWT secret, a guest secret, one trusted proxy (10.0.0.1), a minute of leeway.
    pub fn config() -> IdentityConfig {
        IdentityConfig {
            jwt_secret: Some(Secret::new(String::from_utf8(KEY.to_vec()).unwrap())),
            guest_secret: Secret::new("guest-secret-0123456789abcdef0123"),
            trusted_proxies: vec![crate::domain::ip_range::IpRange::parse("10.0.0.1").unwrap()],
            jwt_rules: JwtRules {
                leeway: 60,
                ..JwtRules::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_config::{config, KEY};
    use super::*;
    use serde_json::json;

    #[test]
    fn a_token_with_critical_extensions_is_refused() {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(br#"{"alg":"HS256","typ":"JWT","crit":["exp"],"exp":1}"#);
        let body = b64.encode(json!({"sub": "42", "exp": 2000}).to_string());
        let mut mac = HmacSha256::new_from_slice(KEY).unwrap();
        mac.update(format!("{head}.{body}").as_bytes());
        let token = format!("{head}.{body}.{}", b64.encode(mac.finalize().into_bytes()));
        assert_eq!(
            verify_jwt(&token, KEY, &JwtRules::default(), 1000),
            Err(IdentityError::InvalidToken(
                "a crit header names extensions caisse does not understand"
            ))
        );
    }

    #[test]
    fn a_valid_token_names_the_customer() {
        let token = sign_jwt(&json!({"sub": "42", "exp": 2000}), KEY);
        assert_eq!(
            signed_in(&token, &config(), 1000),
            Ok(Customer {
                id: "user:42".into(),
                new_guest_cookie: None
            })
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let rules = config().jwt_rules;
        let verify = |t: &str, now| verify_jwt(t, KEY, &rules, now);
        let expired = sign_jwt(&json!({"sub": "42", "exp": 1000}), KEY);
        assert_eq!(
            verify(&expired, 1060),
            Err(IdentityError::InvalidToken("expired"))
        );
        assert_eq!(verify(&expired, 1059), Ok("42".into()), "within the leeway");
        let forged = sign_jwt(
            &json!({"sub": "42", "exp": 2000}),
            b"another-secret-another-secret-xx",
        );
        assert_eq!(
            verify(&forged, 0),
            Err(IdentityError::InvalidToken("bad signature"))
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none"}"#),
            b64.encode(r#"{"sub":"42"}"#)
        );
        assert_eq!(
            verify(&none, 0),
            Err(IdentityError::InvalidToken("only HS256 is accepted"))
        );
        assert_eq!(
            verify("a.b", 0),
            Err(IdentityError::InvalidToken("not a JWT"))
        );
        for sub in ["42\nuser:admin", "a\u{1b}[2J", "\u{85}"] {
            let token = sign_jwt(&json!({"sub": sub, "exp": 2000}), KEY);
            assert_eq!(
                verify(&token, 0),
                Err(IdentityError::InvalidToken("sub has control characters"))
            );
        }
        let no_sub = sign_jwt(&json!({"name": "x", "exp": 2000}), KEY);
        assert_eq!(
            verify(&no_sub, 0),
            Err(IdentityError::InvalidToken("no sub claim"))
        );
        let mut c = config();
        c.jwt_secret = None;
        let token = sign_jwt(&json!({"sub": "42", "exp": 2000}), KEY);
        assert_eq!(signed_in(&token, &c, 0), Err(IdentityError::NoJwtSecret));
    }

    #[test]
    fn time_claims_are_numbers_and_exp_is_required() {
        let rules = config().jwt_rules;
        let verify =
            |claims: serde_json::Value, now| verify_jwt(&sign_jwt(&claims, KEY), KEY, &rules, now);
        let invalid = |why| Err(IdentityError::InvalidToken(why));
        assert_eq!(verify(json!({"sub": "1"}), 0), invalid("no exp claim"));
        assert_eq!(
            verify(json!({"sub": "1", "exp": 999.5}), 1060),
            invalid("expired")
        );
        assert_eq!(
            verify(json!({"sub": "1", "exp": 1100.5}), 1060),
            Ok("1".into())
        );
        assert_eq!(
            verify(json!({"sub": "1", "exp": "1000"}), 0),
            invalid("a time claim is not a number")
        );
        assert_eq!(
            verify(json!({"sub": "1", "exp": 5000, "nbf": 1100.5}), 1000),
            invalid("not valid yet")
        );
        assert_eq!(
            verify(json!({"sub": "1", "exp": 5000, "nbf": "0"}), 1000),
            invalid("a time claim is not a number")
        );
        let strict = JwtRules {
            leeway: 0,
            issuer: Some("https://shop.example".into()),
            audience: Some("caisse".into()),
        };
        let check =
            |claims: serde_json::Value| verify_jwt(&sign_jwt(&claims, KEY), KEY, &strict, 0);
        assert_eq!(
            check(
                json!({"sub": "1", "exp": 9, "iss": "https://shop.example", "aud": ["x", "caisse"]})
            ),
            Ok("1".into())
        );
        assert_eq!(
            check(json!({"sub": "1", "exp": 9, "iss": "https://evil.example", "aud": "caisse"})),
            invalid("wrong issuer")
        );
        assert_eq!(
            check(json!({"sub": "1", "exp": 9, "iss": "https://shop.example"})),
            invalid("wrong audience")
        );
    }

    #[test]
    fn a_guest_is_the_first_cookie_that_verifies_and_anyone_else_a_new_guest() {
        let first = guest([], &config());
        let cookie = first.new_guest_cookie.clone().unwrap();
        assert!(first.id.starts_with("guest:"));
        let again = guest([cookie.as_str()], &config());
        assert_eq!(
            (again.id.as_str(), again.new_guest_cookie),
            (first.id.as_str(), None)
        );
        assert_eq!(guest_cookie_for(&first.id, &config()), Some(cookie.clone()));
        assert_eq!(guest_cookie_for("user:42", &config()), None);

        let forged = format!("{}.{}", "a".repeat(32), "00".repeat(32));
        let behind = guest([forged.as_str(), "junk", cookie.as_str()], &config());
        assert_eq!(behind.id, first.id, "not merely the first by name");
        let other = guest([forged.as_str()], &config());
        assert_ne!(other.id, first.id);
        assert!(other.new_guest_cookie.is_some());
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            network_key(ip("2001:db8:1:2:aaaa::1")),
            network_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_eq!(network_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(network_key(ip("::ffff:1.2.3.4")), "1.2.3.4");
    }
}
