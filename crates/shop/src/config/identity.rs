//! Who the customer is (DESIGN.md 1.7): the shop's sign-in tokens (HS256 secret and what a token
//! must say), the guest-cookie key, and the proxies whose `X-Forwarded-For` is believed.

use super::reader::Reader;
use super::settings::{
    GUEST_SECRET, JWT_AUDIENCE, JWT_ISSUER, JWT_LEEWAY, JWT_SECRET, TRUSTED_PROXIES,
};
use super::Mode;
use crate::domain::ip_range::IpRange;
use crate::secret::Secret;

/// What a token must say beyond its signature.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtRules {
    /// Seconds of clock difference forgiven on `exp` and `nbf`.
    pub leeway: i64,
    /// The `iss` the shop's sign-in puts in its tokens, when set.
    pub issuer: Option<String>,
    /// An `aud` the token must name, when set.
    pub audience: Option<String>,
}

#[derive(Clone, Debug)]
pub struct IdentityConfig {
    pub jwt_secret: Option<Secret>,
    pub guest_secret: Secret,
    /// Single addresses and CIDR ranges.
    pub trusted_proxies: Vec<IpRange>,
    pub jwt_rules: JwtRules,
}

pub(super) fn identity_settings(r: &mut Reader<'_>, mode: Mode) -> IdentityConfig {
    let jwt = r.text(JWT_SECRET);
    if !jwt.is_empty() && jwt.len() < 32 {
        r.fail(JWT_SECRET, "must be at least 32 characters");
    }
    let guest = r.text(GUEST_SECRET);
    if !guest.is_empty() && guest.len() < 32 {
        r.fail(GUEST_SECRET, "must be at least 32 characters");
    }
    if guest.is_empty() && mode == Mode::Serve {
        r.fail(
            GUEST_SECRET,
            "is required by serve: without it every restart, and every other instance, forgets the guests",
        );
    }
    let guest = if guest.is_empty() {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    } else {
        guest
    };
    let proxies = r.text(TRUSTED_PROXIES);
    let mut trusted_proxies = Vec::new();
    for p in proxies.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match IpRange::parse(p) {
            // Trusting every address lets any client name itself in X-Forwarded-For, and so
            // step around every per-network cap.
            Ok(range) if range.is_everything() => r.fail(
                TRUSTED_PROXIES,
                "must not trust every address (0.0.0.0/0, ::/0): any client could then choose its own address in X-Forwarded-For; name your proxies' addresses or range",
            ),
            Ok(range) => trusted_proxies.push(range),
            Err(_) => r.fail(
                TRUSTED_PROXIES,
                "must be a comma-separated list of IP addresses and CIDR ranges (10.0.0.0/8, fd00::/8)",
            ),
        }
    }
    let leeway = r.number::<i64>(JWT_LEEWAY);
    if !(0..=600).contains(&leeway) {
        r.fail(JWT_LEEWAY, "must be 0 to 600 seconds");
    }
    let optional = |r: &mut Reader<'_>, name| Some(r.text(name)).filter(|v| !v.is_empty());
    let jwt_rules = JwtRules {
        leeway,
        issuer: optional(r, JWT_ISSUER),
        audience: optional(r, JWT_AUDIENCE),
    };
    IdentityConfig {
        jwt_secret: (!jwt.is_empty()).then(|| Secret::new(jwt)),
        guest_secret: Secret::new(guest),
        trusted_proxies,
        jwt_rules,
    }
}
