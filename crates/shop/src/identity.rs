//! Who is checking out: a customer signed in on the shop (an HS256 bearer token whose `sub` is the
//! customer id) or a guest (a signed cookie minted on the first call), and the client's IP.
//!
//! A bearer token that is present but invalid is refused outright: falling back to a guest would
//! let a broken sign-in silently split one customer into many identities (and rate budgets).

use std::net::{IpAddr, SocketAddr};

use axum::http::{header, HeaderMap};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::IdentityConfig;

type HmacSha256 = Hmac<Sha256>;

pub const GUEST_COOKIE: &str = "caisse_guest";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// `user:<sub>` or `guest:<uuid>`.
    pub id: String,
    /// A guest cookie to set on the answer: this caller had none (or a forged one).
    pub new_guest_cookie: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("bearer tokens are not accepted: no CAISSE_JWT_SECRET is configured")]
    NoJwtSecret,
    #[error("invalid bearer token: {0}")]
    InvalidToken(&'static str),
}

/// The customer behind a request, at unix time `now`.
pub fn identify(
    headers: &HeaderMap,
    config: &IdentityConfig,
    now: i64,
) -> Result<Customer, IdentityError> {
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = auth
            .strip_prefix("Bearer ")
            .ok_or(IdentityError::InvalidToken("use the Bearer scheme"))?;
        let secret = config
            .jwt_secret
            .as_ref()
            .ok_or(IdentityError::NoJwtSecret)?;
        let sub = verify_jwt(token.trim(), secret.expose().as_bytes(), now)?;
        return Ok(Customer {
            id: format!("user:{sub}"),
            new_guest_cookie: None,
        });
    }
    let guest_key = config.guest_secret.expose().as_bytes();
    let existing = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(&format!("{GUEST_COOKIE}=")))
        .find_map(|value| verify_guest(value, guest_key));
    Ok(match existing {
        Some(id) => Customer {
            id: format!("guest:{id}"),
            new_guest_cookie: None,
        },
        None => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let cookie = format!("{id}.{}", tag(guest_key, id.as_bytes()));
            Customer {
                id: format!("guest:{id}"),
                new_guest_cookie: Some(cookie),
            }
        }
    })
}

fn tag(key: &[u8], data: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

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

/// The `Set-Cookie` value for a new guest: a year, HttpOnly, SameSite=Lax, Secure over https.
pub fn guest_set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{GUEST_COOKIE}={value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Checks an HS256 JWT and returns its `sub`. Only HS256 is accepted (never `none`, never a
/// public-key algorithm a confused verifier would key with the secret); `exp` and `nbf` are honoured.
pub fn verify_jwt(token: &str, secret: &[u8], now: i64) -> Result<String, IdentityError> {
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
    if claims
        .get("exp")
        .and_then(|e| e.as_i64())
        .is_some_and(|exp| now >= exp)
    {
        return Err(IdentityError::InvalidToken("expired"));
    }
    if claims
        .get("nbf")
        .and_then(|e| e.as_i64())
        .is_some_and(|nbf| now < nbf)
    {
        return Err(IdentityError::InvalidToken("not valid yet"));
    }
    match claims.get("sub").and_then(|s| s.as_str()) {
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

/// The client's address: the socket peer, or — only when the peer is a trusted proxy — the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer_ip = peer.ip();
    if !trusted.contains(&peer_ip) {
        return peer_ip;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer_ip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn config() -> IdentityConfig {
        IdentityConfig {
            jwt_secret: Some(Secret::new(String::from_utf8(KEY.to_vec()).unwrap())),
            guest_secret: Secret::new("guest-secret-0123456789abcdef0123"),
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        }
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn a_valid_token_names_the_customer() {
        let token = sign_jwt(&json!({"sub": "42", "exp": 2000}), KEY);
        assert_eq!(
            identify(&bearer(&token), &config(), 1000).unwrap().id,
            "user:42"
        );
    }

    #[test]
    fn bad_tokens_are_refused() {
        let expired = sign_jwt(&json!({"sub": "42", "exp": 1000}), KEY);
        assert_eq!(
            verify_jwt(&expired, KEY, 1000),
            Err(IdentityError::InvalidToken("expired"))
        );
        let forged = sign_jwt(&json!({"sub": "42"}), b"another-secret-another-secret-xx");
        assert_eq!(
            verify_jwt(&forged, KEY, 0),
            Err(IdentityError::InvalidToken("bad signature"))
        );
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none"}"#),
            b64.encode(r#"{"sub":"42"}"#)
        );
        assert_eq!(
            verify_jwt(&none, KEY, 0),
            Err(IdentityError::InvalidToken("only HS256 is accepted"))
        );
        assert_eq!(
            verify_jwt("a.b", KEY, 0),
            Err(IdentityError::InvalidToken("not a JWT"))
        );
        let no_sub = sign_jwt(&json!({"name": "x"}), KEY);
        assert_eq!(
            verify_jwt(&no_sub, KEY, 0),
            Err(IdentityError::InvalidToken("no sub claim"))
        );
        let mut c = config();
        c.jwt_secret = None;
        let token = sign_jwt(&json!({"sub": "42"}), KEY);
        assert_eq!(
            identify(&bearer(&token), &c, 0),
            Err(IdentityError::NoJwtSecret)
        );
    }

    #[test]
    fn guests_keep_their_signed_cookie_and_forgeries_get_a_new_one() {
        let first = identify(&HeaderMap::new(), &config(), 0).unwrap();
        let cookie = first.new_guest_cookie.clone().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("theme=dark; {GUEST_COOKIE}={cookie}")
                .parse()
                .unwrap(),
        );
        let again = identify(&h, &config(), 0).unwrap();
        assert_eq!(
            (again.id.as_str(), again.new_guest_cookie),
            (first.id.as_str(), None)
        );

        let forged = format!("{}.{}", "a".repeat(32), "00".repeat(32));
        h.insert(
            header::COOKIE,
            format!("{GUEST_COOKIE}={forged}").parse().unwrap(),
        );
        let other = identify(&h, &config(), 0).unwrap();
        assert_ne!(other.id, first.id);
        assert!(other.new_guest_cookie.is_some());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 1.2.3.4".parse().unwrap());
        let direct: SocketAddr = "9.9.9.9:5000".parse().unwrap();
        let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let trusted = config().trusted_proxies;
        assert_eq!(
            client_ip(direct, &h, &trusted),
            "9.9.9.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap(),
            "the right-most, the proxy's own view"
        );
        assert_eq!(
            client_ip(proxy, &HeaderMap::new(), &trusted),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
