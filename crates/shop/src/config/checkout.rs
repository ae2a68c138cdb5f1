//! What a checkout may do: how long it holds stock, how large a cart may be, and the limits per
//! customer and per client network (DESIGN.md 1.4, 1.7); how often expired holds are swept.

use std::time::Duration;

use super::reader::Reader;
use super::settings::{
    COLLECT_PHONE, HOLD_TTL, MAX_CART_QUANTITY, MAX_HELD_UNITS_PER_IP, MAX_LINE_QUANTITY,
    MAX_OPEN_HOLDS, MAX_OPEN_HOLDS_PER_IP, RATE_PER_CUSTOMER, RATE_PER_IP, REDIS_URL,
    SHIPPING_COUNTRIES, SWEEP_INTERVAL,
};
use crate::domain::rate::Rate;
use crate::secret::Secret;

#[derive(Clone, Debug)]
pub struct CheckoutConfig {
    pub hold_ttl: Duration,
    pub max_line_quantity: i64,
    pub max_cart_quantity: i64,
    pub success_url: String,
    pub cancel_url: String,
    pub rate_per_customer: Rate,
    pub rate_per_ip: Rate,
    pub max_open_holds: i64,
    pub max_open_holds_per_ip: i64,
    pub max_held_units_per_ip: i64,
    pub sweep_interval: Duration,
    /// Where checkout collects a shipping address (upper-case ISO 3166-1 alpha-2 codes); empty:
    /// nothing ships and no address is asked.
    pub shipping_countries: Vec<String>,
    pub collect_phone: bool,
}

pub(super) fn checkout_settings(
    r: &mut Reader<'_>,
    success_url: String,
    cancel_url: String,
) -> CheckoutConfig {
    let hold_ttl = r.number::<u64>(HOLD_TTL);
    if !(1800..=86_400).contains(&hold_ttl) {
        r.fail(
            HOLD_TTL,
            "must be between 1800 and 86400 seconds (Stripe's expires_at range)",
        );
    }
    let max_line_quantity = r.number::<i64>(MAX_LINE_QUANTITY);
    if max_line_quantity < 1 {
        r.fail(MAX_LINE_QUANTITY, "must be at least 1");
    }
    let max_cart_quantity = r.number::<i64>(MAX_CART_QUANTITY);
    if max_cart_quantity < max_line_quantity {
        r.fail(
            MAX_CART_QUANTITY,
            format!("must be at least {MAX_LINE_QUANTITY}"),
        );
    }
    let rate_per_customer = r.parsed::<Rate>(RATE_PER_CUSTOMER, |e| e);
    let rate_per_ip = r.parsed::<Rate>(RATE_PER_IP, |e| e);
    let max_open_holds = r.number::<i64>(MAX_OPEN_HOLDS);
    if max_open_holds < 1 {
        r.fail(MAX_OPEN_HOLDS, "must be at least 1");
    }
    let max_open_holds_per_ip = r.number::<i64>(MAX_OPEN_HOLDS_PER_IP);
    if max_open_holds_per_ip < 1 {
        r.fail(MAX_OPEN_HOLDS_PER_IP, "must be at least 1");
    }
    let max_held_units_per_ip = r.number::<i64>(MAX_HELD_UNITS_PER_IP);
    if max_held_units_per_ip < 1 {
        r.fail(MAX_HELD_UNITS_PER_IP, "must be at least 1");
    }
    let sweep = r.number::<u64>(SWEEP_INTERVAL);
    if sweep == 0 {
        r.fail(SWEEP_INTERVAL, "must be at least 1 second");
    }
    let shipping_countries = shipping_countries(r);
    let collect_phone = r.flag(COLLECT_PHONE);
    CheckoutConfig {
        shipping_countries,
        collect_phone,
        hold_ttl: Duration::from_secs(hold_ttl),
        max_line_quantity,
        max_cart_quantity,
        success_url,
        cancel_url,
        rate_per_customer,
        rate_per_ip,
        max_open_holds,
        max_open_holds_per_ip,
        max_held_units_per_ip,
        sweep_interval: Duration::from_secs(sweep),
    }
}

/// `FR, be` → `["FR", "BE"]`: two letters each (Stripe refuses anything else at every checkout,
/// so it is refused at start), duplicates dropped.
fn shipping_countries(r: &mut Reader<'_>) -> Vec<String> {
    let text = r.text(SHIPPING_COUNTRIES);
    let mut countries: Vec<String> = Vec::new();
    for code in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            r.fail(
                SHIPPING_COUNTRIES,
                "must be ISO 3166-1 alpha-2 country codes separated by commas (FR,BE)",
            );
            return Vec::new();
        }
        let code = code.to_ascii_uppercase();
        if !countries.contains(&code) {
            countries.push(code);
        }
    }
    countries
}

/// Where the rate limit is shared between instances; `None`: each instance counts its own.
pub(super) fn redis_url(r: &mut Reader<'_>) -> Option<Secret> {
    let redis = r.text(REDIS_URL);
    if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
        r.fail(REDIS_URL, "must start with redis:// or rediss://");
    }
    (!redis.is_empty()).then(|| Secret::new(redis))
}
