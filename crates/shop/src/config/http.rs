//! The HTTP server: where it listens (the public and the metrics listener), the URL customers reach
//! it at, the limits of a request and of a connection, and which browser origins may call it.

use std::net::SocketAddr;
use std::time::Duration;

use super::reader::Reader;
use super::settings::{
    declared, CANCEL_URL, CORS_ORIGINS, HEADER_READ_TIMEOUT, IDLE_TIMEOUT, LISTEN, MAX_BODY,
    MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP, METRICS_LISTEN, PUBLIC_URL, REQUEST_TIMEOUT,
    SUCCESS_URL,
};

/// Where caisse answers and where Stripe sends customers back.
pub(super) struct Addresses {
    pub listen: SocketAddr,
    pub metrics_listen: SocketAddr,
    pub public_url: String,
    pub success_url: String,
    pub cancel_url: String,
}

/// An address such as the setting's default, in a problem that never repeats the value.
fn address(r: &mut Reader<'_>, name: &'static str) -> SocketAddr {
    r.parsed(name, |_| {
        let example = declared(name).map_or("", |s| s.default);
        format!("must be an address such as {example}")
    })
}

pub(super) fn addresses(r: &mut Reader<'_>) -> Addresses {
    let listen = address(r, LISTEN);
    let metrics_listen = address(r, METRICS_LISTEN);
    let public_url = r
        .text_with(PUBLIC_URL, &[(LISTEN, &listen.to_string())])
        .trim_end_matches('/')
        .to_string();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        r.fail(PUBLIC_URL, "must be an http:// or https:// URL");
    }
    let success_url = r.text_with(SUCCESS_URL, &[(PUBLIC_URL, &public_url)]);
    let cancel_url = r.text_with(CANCEL_URL, &[(PUBLIC_URL, &public_url)]);
    // Stripe refuses anything else at every checkout; found at start, it is one line to fix
    // instead of a shop that cannot sell.
    for (name, url) in [(SUCCESS_URL, &success_url), (CANCEL_URL, &cancel_url)] {
        if !is_absolute_http_url(url) {
            r.fail(
                name,
                "must be an absolute http:// or https:// URL with a host (at most 5000 characters)",
            );
        }
    }
    Addresses {
        listen,
        metrics_listen,
        public_url,
        success_url,
        cancel_url,
    }
}

/// An absolute http(s) URL with a host, no blank or control character, at most 5000 characters:
/// what Stripe takes as a Checkout Session's `success_url` and `cancel_url`.
fn is_absolute_http_url(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url.len() <= 5000
        && !host.is_empty()
        && !host.starts_with(':')
        && !host.contains('@')
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// How much a request and a connection may take.
pub(super) struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
}

pub(super) fn limits(r: &mut Reader<'_>) -> Limits {
    let max_body_bytes = r.number::<usize>(MAX_BODY);
    if max_body_bytes < 1024 {
        r.fail(MAX_BODY, "must be at least 1024 bytes");
    }
    let request_timeout = r.number::<u64>(REQUEST_TIMEOUT);
    if request_timeout == 0 {
        r.fail(REQUEST_TIMEOUT, "must be at least 1 second");
    }
    let header_read = r.number::<u64>(HEADER_READ_TIMEOUT);
    if !(1..=300).contains(&header_read) {
        r.fail(HEADER_READ_TIMEOUT, "must be 1 to 300 seconds");
    }
    let idle = r.number::<u64>(IDLE_TIMEOUT);
    if idle <= request_timeout {
        r.fail(
            IDLE_TIMEOUT,
            format!("must be more than {REQUEST_TIMEOUT} (a request may be silent that long)"),
        );
    }
    let max_connections = r.number::<usize>(MAX_CONNECTIONS);
    if max_connections < 16 {
        r.fail(MAX_CONNECTIONS, "must be at least 16");
    }
    let max_connections_per_ip = r.number::<usize>(MAX_CONNECTIONS_PER_IP);
    // More than the total is allowed: the total then decides.
    if max_connections_per_ip == 0 {
        r.fail(MAX_CONNECTIONS_PER_IP, "must be at least 1");
    }
    Limits {
        max_body_bytes,
        request_timeout: Duration::from_secs(request_timeout),
        header_read_timeout: Duration::from_secs(header_read),
        idle_timeout: Duration::from_secs(idle),
        max_connections,
        max_connections_per_ip,
    }
}

pub(super) fn cors(r: &mut Reader<'_>) -> Vec<String> {
    let text = r.text(CORS_ORIGINS);
    let mut origins = Vec::new();
    for origin in text.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let origin = origin.trim_end_matches('/');
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains('/') && origin != "*" => {
                origins.push(origin.to_string())
            }
            _ => r.fail(
                CORS_ORIGINS,
                "each origin is scheme://host[:port], without a path or *",
            ),
        }
    }
    origins
}

#[cfg(test)]
mod tests {
    #[test]
    fn return_urls_must_be_absolute_http_urls() {
        for good in [
            "https://shop.example/thanks?session_id={CHECKOUT_SESSION_ID}",
            "http://127.0.0.1:8080/?checkout=cancelled",
            "https://shop.example",
        ] {
            assert!(super::is_absolute_http_url(good), "{good}");
        }
        for bad in [
            "/thanks",
            "shop.example/thanks",
            "ftp://shop.example/",
            "https:///thanks",
            "https://:443/x",
            "https://user@shop.example/",
            "https://shop.example/a b",
            "javascript:alert(1)",
            "",
        ] {
            assert!(!super::is_absolute_http_url(bad), "{bad}");
        }
        assert!(!super::is_absolute_http_url(&format!(
            "https://shop.example/{}",
            "a".repeat(5000)
        )));
    }
}
