//! Time-based one-time passwords (RFC 6238) as authenticator apps expect them: HMAC-SHA-1, 30 s
//! steps, 6 digits, the secret shown in base32 (RFC 4648, no padding) inside an `otpauth://` URI.
//! Pure: the caller passes the time and keeps which step was last used.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `bytes` in base32 without padding (authenticator apps accept it so).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The bytes of a base32 secret (case and spaces ignored); `None` when it is not base32.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = BASE32
            .iter()
            .position(|&b| b as char == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The step a unix time falls in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// The code of `step` for `secret` (RFC 4226's dynamic truncation), zero-padded.
pub fn code(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let n = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!("{:0width$}", n % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The step whose code `typed` is, among the current step and one either side (a phone's clock
/// a little off, a code typed as it turned), and only if it is later than `last_used`: a code is
/// accepted once, and so is any code older than the last one accepted.
pub fn matching_step(secret: &[u8], typed: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    (current - 1..=current + 1).find(|&step| {
        last_used.is_none_or(|last| step > last)
            && bool::from(code(secret, step).as_bytes().ct_eq(typed.as_bytes()))
    })
}

/// The URI an authenticator app reads (as text or as a QR code): issuer `caisse`, the operator's
/// email as the account.
pub fn otpauth_uri(secret_base32: &str, account: &str) -> String {
    let account: String = account
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!(
        "otpauth://totp/caisse:{account}?secret={secret_base32}&issuer=caisse&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, with the last six of its eight digits.
    #[test]
    fn codes_match_the_rfc_vectors() {
        let secret = b"12345678901234567890";
        for (t, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code(secret, step_at(t)), &eight[2..], "t={t}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(from_base32("mzxw 6ytb oi").unwrap(), b"foobar");
        assert_eq!(from_base32("MZXW6YTBOI======").unwrap(), b"foobar");
        assert!(from_base32("MZ1").is_none());
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(from_base32(&base32(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn a_code_is_accepted_once_and_only_near_its_time() {
        let secret = b"12345678901234567890";
        let now = 1_800_000_000;
        let c = code(secret, step_at(now));
        assert_eq!(matching_step(secret, &c, now, None), Some(step_at(now)));
        assert_eq!(
            matching_step(secret, &format!("{} {}", &c[..3], &c[3..]), now, None),
            Some(step_at(now))
        );
        // Used: neither it nor an older one again.
        assert_eq!(matching_step(secret, &c, now, Some(step_at(now))), None);
        let previous = code(secret, step_at(now) - 1);
        assert_eq!(
            matching_step(secret, &previous, now, Some(step_at(now))),
            None
        );
        assert_eq!(
            matching_step(secret, &previous, now, None),
            Some(step_at(now) - 1)
        );
        // Two minutes away is not near.
        assert_eq!(matching_step(secret, &c, now + 120, None), None);
        assert_eq!(matching_step(secret, "12345", now, None), None);
        assert_eq!(matching_step(secret, "abcdef", now, None), None);
    }

    #[test]
    fn the_uri_names_the_account_and_the_parameters() {
        assert_eq!(
            otpauth_uri("MZXW6YTBOI", "alice+ops@shop.example"),
            "otpauth://totp/caisse:alice%2Bops%40shop.example?secret=MZXW6YTBOI&issuer=caisse&algorithm=SHA1&digits=6&period=30"
        );
    }
}
