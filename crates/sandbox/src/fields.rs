//! Reading the fields of a decoded form (`caisse_stripe::form`) as Stripe reads them: each
//! kind of value (text, integer, boolean, metadata, currency, amount, list, email) with Stripe's
//! own error when it is not one, so every endpoint refuses the same value with the same words.
//! Which parameters an endpoint takes at all is `params`.

use serde_json::{Map, Value};

use crate::currencies::{MAXIMUM_AMOUNT, SUPPORTED};
use crate::error::ApiError;

/// A text parameter; an empty one counts as absent.
pub(crate) fn text<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(crate) fn integer(params: &Value, key: &str, param: &str) -> Result<Option<i64>, ApiError> {
    match params.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            ApiError::invalid(format!("Invalid integer: {s}"), Some(param))
                .with_code("parameter_invalid_integer")
        }),
        Some(_) => Err(
            ApiError::invalid(format!("Invalid integer for {param}"), Some(param))
                .with_code("parameter_invalid_integer"),
        ),
    }
}

pub(crate) fn boolean(params: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key).and_then(Value::as_str) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(
            format!("Invalid boolean: {other}"),
            Some(key),
        )),
    }
}

/// Metadata: a hash of strings, at most 50 keys of 40 characters, values of 500.
pub(crate) fn metadata(params: &Value, key: &str) -> Result<Map<String, Value>, ApiError> {
    match params.get(key) {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => {
            if map.len() > 50 {
                return Err(ApiError::invalid(
                    "Metadata can have at most 50 keys.",
                    Some(key),
                ));
            }
            for (k, v) in map {
                let ok =
                    k.chars().count() <= 40 && v.as_str().is_some_and(|v| v.chars().count() <= 500);
                if !ok {
                    return Err(ApiError::invalid(
                        format!("Invalid metadata[{k}]: keys are at most 40 characters and values strings of at most 500."),
                        Some(&format!("{key}[{k}]")),
                    ));
                }
            }
            Ok(map.clone())
        }
        Some(_) => {
            Err(ApiError::invalid("Invalid hash", Some(key)).with_code("parameter_invalid_string"))
        }
    }
}

/// Stripe's metadata update: keys set, and a key sent empty removed.
pub(crate) fn merge_metadata(into: &mut Map<String, Value>, update: Map<String, Value>) {
    for (k, v) in update {
        if v.as_str().is_some_and(str::is_empty) {
            into.remove(&k);
        } else {
            into.insert(k, v);
        }
    }
}

pub(crate) fn currency(value: Option<&str>, param: &str) -> Result<String, ApiError> {
    let c = value.ok_or_else(|| ApiError::missing(param))?;
    let lower = c.to_ascii_lowercase();
    if SUPPORTED.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err(ApiError::invalid(
            format!(
                "Invalid currency: {}. Stripe currently supports these currencies: {}",
                lower,
                SUPPORTED.join(", ")
            ),
            Some(param),
        ))
    }
}

/// A `unit_amount` in minor units: from 0 (free) to Stripe's maximum; `param` names it in errors.
pub(crate) fn unit_amount(params: &Value, param: &str) -> Result<i64, ApiError> {
    let amount = integer(params, "unit_amount", param)?.ok_or_else(|| ApiError::missing(param))?;
    if amount < 0 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 0.",
            Some(param),
        ));
    }
    if amount > MAXIMUM_AMOUNT {
        return Err(ApiError::invalid(
            format!("This value must be less than or equal to {MAXIMUM_AMOUNT}."),
            Some(param),
        ));
    }
    Ok(amount)
}

/// The non-empty strings of a list parameter (`images[]`, `expand[]` …); params.rs has already
/// refused a list sent as one value.
pub(crate) fn strings(params: &Value, key: &str) -> Vec<String> {
    match params.get(key) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// An address the sandbox takes as an email: one `@` between a local part and a domain with a
/// dot inside it, no space, double quote or angle bracket, at most 512 bytes. Loose otherwise on
/// purpose (an apostrophe, a `+` pass): a sandbox stricter than Stripe would refuse what caisse
/// may rightly send.
pub(crate) fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let dotted = domain
        .split_once('.')
        .is_some_and(|(host, rest)| !host.is_empty() && !rest.is_empty() && !rest.ends_with('.'));
    !local.is_empty()
        && dotted
        && !domain.contains('@')
        && !value.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>'))
        && value.len() <= 512
}
