//! Webhook signatures: the one `sign` and the one `verify` that the shop's endpoint, the sandbox's
//! sender and `caisse webhook sign` all use.
//!
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…][,v0=…]`. The signed string is
//! `"{t}.{raw body bytes}"`, HMAC-SHA256 keyed with the whole `whsec_…` string, lowercase hex. A
//! header is accepted when any `v1` matches any configured secret (rotation) and `t` is within the
//! tolerance of now in either direction. Other schemes (`v0`, future ones) are ignored.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. The variants say what is wrong, never with which secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    MissingHeader,
    #[error("malformed Stripe-Signature header: {0}")]
    Malformed(&'static str),
    #[error("the Stripe-Signature header has no v1 signature of 64 hex digits (an HMAC-SHA256)")]
    NoV1,
    #[error("no v1 signature matches the payload with any configured secret")]
    NoMatch,
    #[error("timestamp is {} s {}, outside the {tolerance_secs} s tolerance", skew_secs.unsigned_abs(), if *skew_secs < 0 { "in the future" } else { "old" })]
    OutsideTolerance { skew_secs: i64, tolerance_secs: u64 },
}

/// The hex `v1` signature of `payload` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, payload).finalize().into_bytes())
}

/// A whole `Stripe-Signature` header with one `v1` per secret, as Stripe sends during a rotation.
pub fn signature_header(secrets: &[&str], timestamp: i64, payload: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, payload));
    }
    header
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The parts of a header that matter: its timestamp and its `v1` signatures.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedHeader {
    pub timestamp: i64,
    pub v1: Vec<Vec<u8>>,
}

/// Longest header considered: real ones are ~150 bytes a secret.
const MAX_HEADER_LEN: usize = 4096;

pub fn parse_header(header: &str) -> Result<ParsedHeader, SignatureError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(SignatureError::Malformed("too long"));
    }
    let mut timestamp = None;
    let mut v1 = Vec::new();
    // Empty items (a trailing comma) are skipped, as Stripe's own libraries do.
    for item in header.split(',').filter(|i| !i.trim().is_empty()) {
        let (key, value) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed("an item is not key=value"))?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed("more than one timestamp"));
                }
                if value.is_empty()
                    || value.len() > 12
                    || !value.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(SignatureError::Malformed(
                        "the timestamp is not a unix time",
                    ));
                }
                timestamp =
                    Some(value.parse().map_err(|_| {
                        SignatureError::Malformed("the timestamp is not a unix time")
                    })?);
            }
            // A v1 that is not 32 bytes of hex can never match: skip it rather than fail, as a
            // future encoding might share the name.
            "v1" => {
                if let Ok(bytes) = hex::decode(value) {
                    if bytes.len() == 32 {
                        v1.push(bytes);
                    }
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed("no timestamp"))?;
    if v1.is_empty() {
        return Err(SignatureError::NoV1);
    }
    Ok(ParsedHeader { timestamp, v1 })
}

/// Checks `header` against the raw `payload`; returns the signed timestamp.
///
/// The signature is checked before the timestamp, so a forged header learns nothing about the
/// clock; the comparison is constant time (`verify_slice`).
pub fn verify(
    header: &str,
    payload: &[u8],
    secrets: &[&str],
    tolerance: Duration,
    now: i64,
) -> Result<i64, SignatureError> {
    let parsed = parse_header(header)?;
    let matched = secrets.iter().any(|secret| {
        let expected = mac(secret, parsed.timestamp, payload);
        parsed
            .v1
            .iter()
            .any(|sig| expected.clone().verify_slice(sig).is_ok())
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    let skew = now - parsed.timestamp;
    let tolerance_secs = tolerance.as_secs();
    if skew.unsigned_abs() > tolerance_secs {
        return Err(SignatureError::OutsideTolerance {
            skew_secs: skew,
            tolerance_secs,
        });
    }
    Ok(parsed.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_700_000_000;
    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn round_trip_and_rotation() {
        let body = br#"{"id":"evt_1"}"#;
        let header = signature_header(&["whsec_old", "whsec_new"], T, body);
        assert_eq!(verify(&header, body, &["whsec_new"], FIVE_MIN, T), Ok(T));
        assert_eq!(verify(&header, body, &["whsec_old"], FIVE_MIN, T), Ok(T));
        assert_eq!(
            verify(&header, body, &["whsec_other", "whsec_new"], FIVE_MIN, T),
            Ok(T)
        );
        assert_eq!(
            verify(&header, body, &["whsec_other"], FIVE_MIN, T),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn skew_is_checked_both_ways() {
        let body = b"{}";
        let header = signature_header(&["whsec_x"], T, body);
        assert!(verify(&header, body, &["whsec_x"], FIVE_MIN, T + 300).is_ok());
        assert!(verify(&header, body, &["whsec_x"], FIVE_MIN, T - 300).is_ok());
        assert_eq!(
            verify(&header, body, &["whsec_x"], FIVE_MIN, T + 301),
            Err(SignatureError::OutsideTolerance {
                skew_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            verify(&header, body, &["whsec_x"], FIVE_MIN, T - 301),
            Err(SignatureError::OutsideTolerance {
                skew_secs: -301,
                tolerance_secs: 300
            })
        );
    }

    #[test]
    fn v0_and_unknown_schemes_are_ignored() {
        let body = b"{}";
        let v1 = sign("whsec_x", T, body);
        let header = format!("t={T},v0={v1},v2=abc,v1={v1}");
        assert!(verify(&header, body, &["whsec_x"], FIVE_MIN, T).is_ok());
        let only_v0 = format!("t={T},v0={v1}");
        assert_eq!(
            verify(&only_v0, body, &["whsec_x"], FIVE_MIN, T),
            Err(SignatureError::NoV1)
        );
    }

    #[test]
    fn each_malformation_has_its_error() {
        let v1 = sign("whsec_x", T, b"");
        assert_eq!(
            parse_header(""),
            Err(SignatureError::Malformed("no timestamp"))
        );
        assert_eq!(
            parse_header("t=1,garbage"),
            Err(SignatureError::Malformed("an item is not key=value"))
        );
        // A trailing comma is tolerated, as Stripe's libraries tolerate it.
        assert_eq!(
            parse_header(&format!("t={T},v1={v1},")).map(|p| p.timestamp),
            Ok(T)
        );
        assert_eq!(
            parse_header(&format!("v1={v1}")),
            Err(SignatureError::Malformed("no timestamp"))
        );
        assert_eq!(
            parse_header("t=abc,v1=00"),
            Err(SignatureError::Malformed(
                "the timestamp is not a unix time"
            ))
        );
        assert_eq!(
            parse_header("t=-5,v1=00"),
            Err(SignatureError::Malformed(
                "the timestamp is not a unix time"
            ))
        );
        assert_eq!(
            parse_header(&format!("t=1,t=2,v1={v1}")),
            Err(SignatureError::Malformed("more than one timestamp"))
        );
        assert_eq!(parse_header("t=1,v1=zz"), Err(SignatureError::NoV1));
        assert_eq!(
            parse_header(&"t=1,".repeat(2000)),
            Err(SignatureError::Malformed("too long"))
        );
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(body in proptest::collection::vec(any::<u8>(), 0..512),
                                        secret in "whsec_[a-zA-Z0-9]{1,40}",
                                        t in 0i64..4_000_000_000) {
            let header = signature_header(&[&secret], t, &body);
            prop_assert_eq!(verify(&header, &body, &[&secret], FIVE_MIN, t), Ok(t));
        }

        #[test]
        fn any_changed_byte_fails(body in proptest::collection::vec(any::<u8>(), 1..256),
                                  flip in any::<usize>(), bit in 0u8..8, which in 0usize..3) {
            let secret = "whsec_prop";
            let sig = sign(secret, T, &body);
            let (mut body2, mut t2, mut sig2) = (body.clone(), T, hex::decode(&sig).unwrap());
            match which {
                0 => { let i = flip % body2.len(); body2[i] ^= 1 << bit; }
                1 => { t2 ^= 1 << bit; }
                _ => { let i = flip % sig2.len(); sig2[i] ^= 1 << bit; }
            }
            let header = format!("t={t2},v1={}", hex::encode(&sig2));
            let result = verify(&header, &body2, &[secret], Duration::from_secs(1_000), T);
            prop_assert_eq!(result, Err(SignatureError::NoMatch));
        }

        #[test]
        fn the_parser_never_panics(header in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&header);
            let _ = verify(&text, b"{}", &["whsec_x"], FIVE_MIN, T);
        }

        #[test]
        fn the_parser_never_panics_on_near_headers(header in "(t|v1|v0|x)?=?[0-9a-f,=t v]{0,120}") {
            let _ = verify(&header, b"{}", &["whsec_x"], FIVE_MIN, T);
        }
    }
}
