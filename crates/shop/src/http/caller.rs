//! Who is calling, read off the request: the [`Caller`] of the checkout API (a customer from the
//! `Authorization: Bearer` token or the guest cookie, and the client's address), the [`ClientIp`]
//! alone (the dashboard's sign-in), and the guest cookie an answer sets. What a token or a
//! cookie value means is [`crate::identity`]'s (pure) business; this module only finds them.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::config::IdentityConfig;
use crate::domain::ip_range::IpRange;
use crate::error::ApiError;
use crate::identity::{self, Customer, IdentityError, GUEST_COOKIE};
use crate::store::unix_now;

use super::cookies::cookie_values;

/// The checkout API's caller: the customer (a new guest gets its cookie on the answer, see
/// [`Caller::answer`]) and the client's address. A present but invalid bearer token is refused
/// with `401 unauthorized`, never taken for a guest.
pub(crate) struct Caller {
    pub customer: Customer,
    pub client_ip: IpAddr,
}

impl FromRequestParts<App> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let ClientIp(client_ip) = ClientIp::from_request_parts(parts, app).await?;
        let customer = identify(&parts.headers, &app.config.identity, unix_now()).map_err(|e| {
            match e {
                IdentityError::NoJwtSecret | IdentityError::InvalidToken(_) => {
                    ApiError::unauthorized(e.to_string())
                }
            }
            .into_response()
        })?;
        Ok(Caller {
            customer,
            client_ip,
        })
    }
}

impl Caller {
    /// `response` with the new guest's cookie, on any answer, error or not, so that a browser
    /// keeps one identity; an answer that already names its guest (a replayed double click) keeps
    /// that one.
    pub fn answer(&self, app: &App, mut response: Response) -> Response {
        if response.headers().contains_key(header::SET_COOKIE) {
            return response;
        }
        if let Some(v) = self
            .customer
            .new_guest_cookie
            .as_deref()
            .and_then(|value| guest_set_cookie(app, value))
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        response
    }
}

/// The `Set-Cookie` that makes a browser guest `value`: a year, `HttpOnly`, `SameSite=Lax`,
/// `Secure` when caisse is reached over https.
pub(crate) fn guest_set_cookie(app: &App, value: &str) -> Option<HeaderValue> {
    let secure = if crate::http::over_https(app) {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{GUEST_COOKIE}={value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

/// The customer behind a request's headers, at unix time `now`: the bearer token's when there is
/// an `Authorization` header (refused when unreadable, not Bearer or invalid), else the guest of
/// the first guest cookie that verifies, else a new guest.
fn identify(
    headers: &HeaderMap,
    config: &IdentityConfig,
    now: i64,
) -> Result<Customer, IdentityError> {
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Ok(identity::guest(
            cookie_values(headers, GUEST_COOKIE),
            config,
        ));
    };
    // Present but unreadable is refused like any bad token, never taken for a guest.
    let auth = auth
        .to_str()
        .map_err(|_| IdentityError::InvalidToken("the Authorization header is not ASCII"))?;
    // The scheme is case-insensitive (RFC 9110).
    let token = auth
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token)
        .ok_or(IdentityError::InvalidToken("use the Bearer scheme"))?;
    identity::signed_in(token.trim(), config, now)
}

/// The client's address ([`client_ip`] of the socket peer and `X-Forwarded-For`).
pub(crate) struct ClientIp(pub IpAddr);

impl FromRequestParts<App> for ClientIp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        let ConnectInfo(peer) = ConnectInfo::<SocketAddr>::from_request_parts(parts, app)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(ClientIp(client_ip(
            peer,
            &parts.headers,
            &app.config.identity.trusted_proxies,
        )))
    }
}

/// The client's address: the socket peer, or — only when the peer is a trusted proxy (an address
/// or range of `CAISSE_TRUSTED_PROXIES`) — the `X-Forwarded-For` entry left of the last trusted
/// hop, walking right to left. Addresses are
/// compared in canonical form (an IPv4 peer on a `[::]` listener is `::ffff:a.b.c.d`); entries may
/// carry a port (`1.2.3.4:5678`, `[2001:db8::1]:443`). An entry that is not an address stops the
/// walk: nothing left of it can be believed, so the last trusted hop is the client.
fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpRange]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|t| t.contains(*ip));
    let mut client = peer.ip().to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.into_iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse::<IpAddr>().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::sign_jwt;
    use crate::identity::test_config::{config, KEY};
    use serde_json::json;

    fn authorization(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        h
    }

    #[test]
    fn a_bearer_token_in_any_case_names_the_customer_and_anything_else_is_refused() {
        let token = sign_jwt(&json!({"sub": "42", "exp": 2000}), KEY);
        for scheme in ["Bearer", "bearer"] {
            let h = authorization(format!("{scheme} {token}").as_bytes());
            assert_eq!(identify(&h, &config(), 1000).unwrap().id, "user:42");
        }
        let basic = authorization(b"Basic YWxhZGRpbjpvcGVuc2VzYW1l");
        assert_eq!(
            identify(&basic, &config(), 1000),
            Err(IdentityError::InvalidToken("use the Bearer scheme"))
        );
        let mut no_secret = config();
        no_secret.jwt_secret = None;
        let h = authorization(format!("Bearer {token}").as_bytes());
        assert_eq!(
            identify(&h, &no_secret, 1000),
            Err(IdentityError::NoJwtSecret)
        );
        let h = authorization(b"Bearer \xc3\xa9t\xc3\xa9");
        assert!(identify(&h, &config(), 0).is_err(), "never a guest");
    }

    #[test]
    fn guests_keep_their_signed_cookie_and_forgeries_get_a_new_one() {
        let first = identify(&HeaderMap::new(), &config(), 0).unwrap();
        let cookie = first.new_guest_cookie.clone().unwrap();
        let forged = format!("{}.{}", "a".repeat(32), "00".repeat(32));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("theme=dark; {GUEST_COOKIE}={forged}; {GUEST_COOKIE}={cookie}")
                .parse()
                .unwrap(),
        );
        let again = identify(&h, &config(), 0).unwrap();
        assert_eq!(
            (again.id.as_str(), again.new_guest_cookie),
            (first.id.as_str(), None),
            "the first that verifies, not merely the first by name"
        );

        h.insert(
            header::COOKIE,
            format!("{GUEST_COOKIE}={forged}").parse().unwrap(),
        );
        let other = identify(&h, &config(), 0).unwrap();
        assert_ne!(other.id, first.id);
        assert!(other.new_guest_cookie.is_some());
    }

    #[test]
    fn forwarded_addresses_with_ports_mapped_v4_and_garbage() {
        let trusted = vec![IpRange::parse("127.0.0.1").unwrap()];
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        let xff = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", v.parse().unwrap());
            h
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_ip(mapped, &xff("1.2.3.4"), &trusted),
            ip("1.2.3.4"),
            "a mapped proxy is trusted"
        );
        assert_eq!(
            client_ip(mapped, &xff("1.2.3.4:5678"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_ip(mapped, &xff("[2001:db8::1]:443"), &trusted),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_ip(mapped, &xff("6.6.6.6, unknown"), &trusted),
            ip("127.0.0.1"),
            "nothing left of garbage is believed"
        );
        assert_eq!(
            client_ip(mapped, &xff("6.6.6.6, 1.2.3.4:99, 127.0.0.1"), &trusted),
            ip("1.2.3.4")
        );
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

    #[test]
    fn a_proxy_anywhere_in_a_trusted_range_is_believed() {
        let trusted: Vec<IpRange> = ["10.0.0.0/8", "fd00::/8"]
            .iter()
            .map(|r| IpRange::parse(r).unwrap())
            .collect();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 10.20.30.40".parse().unwrap(),
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for peer in ["10.1.2.3:80", "[fd00::7]:80", "[::ffff:10.9.9.9]:80"] {
            assert_eq!(
                client_ip(peer.parse().unwrap(), &h, &trusted),
                ip("203.0.113.9"),
                "{peer}, and the range's own hop 10.20.30.40 is walked past"
            );
        }
        assert_eq!(
            client_ip("11.0.0.1:80".parse().unwrap(), &h, &trusted),
            ip("11.0.0.1"),
            "outside the range"
        );
    }
}
