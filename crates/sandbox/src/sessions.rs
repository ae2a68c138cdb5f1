//! Creating a Checkout Session from decoded form parameters, with Stripe's validation and error
//! messages: its line items (from a price or `price_data`), amounts and currency limits, expiry,
//! payment method types, shipping (`crate::shipping`) and what `payment_intent_data` carries to
//! the PaymentIntent.

use serde_json::{Map, Value};

use crate::currencies::{check_chargeable, minimum_charge, MAXIMUM_AMOUNT};
use crate::error::ApiError;
use crate::fields::{currency, integer, is_email, metadata, strings, text, unit_amount};
use crate::state::{new_id, Account, LineItem, Session, SessionStatus};

/// Stripe's most line items on a session in payment mode.
const MAX_LINE_ITEMS: usize = 100;

/// Stripe's bounds on `expires_at`, from the session's creation.
const MIN_EXPIRY: i64 = 30 * 60;
const MAX_EXPIRY: i64 = 24 * 60 * 60;

pub fn create_session(
    account: &mut Account,
    params: &Value,
    base_url: &str,
) -> Result<Value, ApiError> {
    match text(params, "mode") {
        None => return Err(ApiError::missing("mode")),
        Some("payment") => {}
        Some(other) => {
            return Err(ApiError::invalid(
                format!("The sandbox supports mode=payment only, not `{other}`."),
                Some("mode"),
            ))
        }
    }
    let success_url =
        text(params, "success_url").ok_or_else(|| ApiError::missing("success_url"))?;
    for (key, url) in [
        ("success_url", Some(success_url)),
        ("cancel_url", text(params, "cancel_url")),
    ] {
        if let Some(url) = url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(
                    ApiError::invalid("Not a valid URL", Some(key)).with_code("url_invalid")
                );
            }
        }
    }
    let items = match params.get("line_items") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => return Err(ApiError::missing("line_items")),
    };
    if items.len() > MAX_LINE_ITEMS {
        return Err(ApiError::invalid(
            format!(
                "A Checkout Session in payment mode can have at most {MAX_LINE_ITEMS} line items; {} were given.",
                items.len()
            ),
            Some("line_items"),
        ));
    }
    let mut line_items = Vec::new();
    for (i, item) in items.iter().enumerate() {
        line_items.push(line_item(account, item, i)?);
    }
    let currency = line_items[0].currency.clone();
    if line_items.iter().any(|li| li.currency != currency) {
        return Err(ApiError::invalid(
            "All line items must use the same currency.",
            Some("line_items"),
        ));
    }
    let amount_total = line_items
        .iter()
        .try_fold(0i64, |sum, li| {
            li.unit_amount
                .checked_mul(li.quantity)
                .and_then(|a| sum.checked_add(a))
        })
        .filter(|t| *t <= MAXIMUM_AMOUNT)
        .ok_or_else(|| {
            ApiError::invalid(
                format!("The Checkout Session's total amount must be at most {MAXIMUM_AMOUNT} in the currency's smallest unit."),
                Some("line_items"),
            )
            .with_code("amount_too_large")
        })?;
    // A free order is allowed; a paid one owes at least Stripe's minimum charge.
    if let Some(min) = minimum_charge(&currency).filter(|m| (1..*m).contains(&amount_total)) {
        return Err(ApiError::invalid(
            format!(
                "The Checkout Session's total amount due must add up to at least {min} {currency} (in the currency's smallest unit)."
            ),
            Some("line_items"),
        )
        .with_code("amount_too_small"));
    }
    let payment_intent_data = params
        .get("payment_intent_data")
        .cloned()
        .unwrap_or(Value::Null);
    let capture_method = match text(&payment_intent_data, "capture_method") {
        Some("manual") => "manual",
        Some("automatic") => "automatic",
        _ => "automatic_async",
    };
    let payment_method_types = payment_method_types(params, &currency, capture_method)?;
    let shipping = crate::shipping::setup(params, &currency, account.now())?;
    if let Some(email) = text(params, "customer_email") {
        if !is_email(email) {
            return Err(ApiError::invalid(
                format!("Invalid email address: {email}"),
                Some("customer_email"),
            )
            .with_code("email_invalid"));
        }
    }
    if text(params, "client_reference_id").is_some_and(|r| r.chars().count() > 200) {
        return Err(ApiError::invalid(
            "client_reference_id must be at most 200 characters.",
            Some("client_reference_id"),
        ));
    }

    let now = account.now();
    let expires_at = integer(params, "expires_at", "expires_at")?.unwrap_or(now + MAX_EXPIRY);
    if expires_at < now + MIN_EXPIRY {
        return Err(ApiError::invalid(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            Some("expires_at"),
        ));
    }
    if expires_at > now + MAX_EXPIRY {
        return Err(ApiError::invalid(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            Some("expires_at"),
        ));
    }
    let session = Session {
        id: new_id("cs_test_"),
        created: now,
        expires_at,
        status: SessionStatus::Open,
        paid: false,
        amount_total,
        currency,
        line_items,
        metadata: metadata(params, "metadata")?,
        payment_intent_metadata: metadata(&payment_intent_data, "metadata")?,
        client_reference_id: text(params, "client_reference_id").map(str::to_string),
        customer_email: text(params, "customer_email").map(str::to_string),
        success_url: success_url.to_string(),
        cancel_url: text(params, "cancel_url").map(str::to_string),
        payment_intent: None,
        settlement: None,
        payment_method_types,
        collected_email: None,
        locale: text(params, "locale").map(str::to_string),
        submit_type: text(params, "submit_type").map(str::to_string),
        payment_intent_text: payment_intent_text(&payment_intent_data)?,
        capture_method,
        shipping,
        collected: None,
    };
    let json = account.session_json(&session, base_url);
    account.sessions.insert(session.id.clone(), session);
    Ok(json)
}

/// What `payment_intent_data` says of the PaymentIntent, checked as Stripe checks it.
fn payment_intent_text(data: &Value) -> Result<Map<String, Value>, ApiError> {
    let mut text_fields = Map::new();
    for key in [
        "description",
        "receipt_email",
        "statement_descriptor",
        "statement_descriptor_suffix",
    ] {
        let Some(value) = text(data, key) else {
            continue;
        };
        let param = format!("payment_intent_data[{key}]");
        // Stripe's statement descriptor requirements: a length, and none of `< > \ ' " *`.
        let allowed_characters = || !value.contains(['<', '>', '\\', '\'', '"', '*']);
        let ok = match key {
            "receipt_email" => is_email(value),
            "statement_descriptor" => {
                (5..=22).contains(&value.chars().count()) && allowed_characters()
            }
            "statement_descriptor_suffix" => {
                (1..=22).contains(&value.chars().count()) && allowed_characters()
            }
            _ => value.chars().count() <= 1000,
        };
        if !ok {
            return Err(ApiError::invalid(
                format!("Invalid {param}: {value}"),
                Some(&param),
            ));
        }
        text_fields.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(text_fields)
}

/// `payment_method_types[]` as listed (`card`, `sepa_debit`: params.rs refuses others), or by
/// default cards, and SEPA debits for a session in euros. SEPA debits are euros only, and
/// cannot be captured later: a manual capture leaves them out, or refuses them when listed.
fn payment_method_types(
    params: &Value,
    currency: &str,
    capture_method: &str,
) -> Result<Vec<String>, ApiError> {
    let listed = strings(params, "payment_method_types");
    let manual = capture_method == "manual";
    if listed.is_empty() {
        let mut types = vec!["card".to_string()];
        if currency == "eur" && !manual {
            types.push("sepa_debit".into());
        }
        return Ok(types);
    }
    if manual && listed.iter().any(|t| t == "sepa_debit") {
        return Err(ApiError::invalid(
            "The payment method type sepa_debit does not support payment_intent_data[capture_method]=manual.",
            Some("payment_intent_data[capture_method]"),
        ));
    }
    if currency != "eur" && listed.iter().any(|t| t == "sepa_debit") {
        return Err(ApiError::invalid(
            format!("The currency provided ({currency}) is invalid for one or more payment method types on this Checkout Session: sepa_debit."),
            Some("payment_method_types"),
        ));
    }
    let mut types = listed;
    types.dedup();
    Ok(types)
}

fn line_item(account: &Account, item: &Value, i: usize) -> Result<LineItem, ApiError> {
    let param = |k: &str| format!("line_items[{i}][{k}]");
    let quantity = integer(item, "quantity", &param("quantity"))?
        .ok_or_else(|| ApiError::missing(&param("quantity")))?;
    if !(1..=999_999).contains(&quantity) {
        return Err(ApiError::invalid(
            "Quantity must be between 1 and 999999.",
            Some(&param("quantity")),
        )
        .with_code("parameter_invalid_integer"));
    }
    if let Some(price_id) = text(item, "price") {
        let price = account
            .prices
            .get(price_id)
            .ok_or_else(|| ApiError::no_such("price", price_id, &param("price")))?;
        let product = account.products.get(&price.product);
        let refused = if !price.active {
            Some("The price specified is inactive. This field only accepts active prices.".into())
        } else if product.is_some_and(|p| !p.active) {
            Some(format!("The price `{price_id}` is not available to be purchased because its product is not active."))
        } else {
            None
        };
        if let Some(message) = refused {
            return Err(ApiError::invalid(message, Some(&param("price"))));
        }
        let name = product.map(|p| p.name.clone()).unwrap_or_default();
        return Ok(LineItem {
            id: new_id("li_"),
            price_id: price.id.clone(),
            product_id: price.product.clone(),
            description: name,
            unit_amount: price.unit_amount,
            currency: price.currency.clone(),
            quantity,
        });
    }
    let data = item.get("price_data").ok_or_else(|| {
        ApiError::invalid(
            "You must specify either `price` or `price_data` for each line item.",
            Some(&param("price")),
        )
    })?;
    let pd = |k: &str| format!("line_items[{i}][price_data][{k}]");
    let currency = currency(text(data, "currency"), &pd("currency"))?;
    let unit_amount = unit_amount(data, &pd("unit_amount"))?;
    check_chargeable(unit_amount, &currency, &pd("unit_amount"))?;
    let (product_id, description) = if let Some(id) = text(data, "product") {
        let product = account
            .products
            .get(id)
            .ok_or_else(|| ApiError::no_such("product", id, &pd("product")))?;
        (product.id.clone(), product.name.clone())
    } else {
        let name = data
            .get("product_data")
            .and_then(|p| text(p, "name"))
            .ok_or_else(|| ApiError::missing(&pd("product_data][name")))?;
        (new_id("prod_"), name.to_string())
    };
    Ok(LineItem {
        id: new_id("li_"),
        price_id: new_id("price_"),
        product_id,
        description,
        unit_amount,
        currency,
        quantity,
    })
}
