//! Creating Checkout Sessions, Products, Prices and Refunds from decoded form parameters, with
//! Stripe's validation and error messages.

use serde_json::{Map, Value};

use crate::currencies::{minimum_charge, MAXIMUM_AMOUNT, SUPPORTED};
use crate::error::ApiError;
use crate::state::{new_id, Account, Cause, LineItem, Price, Product, Session, SessionStatus};

/// Stripe's bounds on `expires_at`, from the session's creation.
const MIN_EXPIRY: i64 = 30 * 60;
const MAX_EXPIRY: i64 = 24 * 60 * 60;

fn text<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn integer(params: &Value, key: &str, param: &str) -> Result<Option<i64>, ApiError> {
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

/// Metadata: a hash of strings, at most 50 keys of 40 characters, values of 500.
pub fn metadata(params: &Value, key: &str) -> Result<Map<String, Value>, ApiError> {
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

fn currency(value: Option<&str>, param: &str) -> Result<String, ApiError> {
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
    let payment_method_types = payment_method_types(params, &currency)?;
    if let Some(email) = text(params, "customer_email") {
        if !email.contains('@') || email.len() > 512 {
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
    let payment_intent_data = params
        .get("payment_intent_data")
        .cloned()
        .unwrap_or(Value::Null);
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
        let ok = match key {
            "receipt_email" => value.contains('@') && value.len() <= 512,
            "statement_descriptor" => (5..=22).contains(&value.chars().count()),
            "statement_descriptor_suffix" => (1..=22).contains(&value.chars().count()),
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
/// default cards, and SEPA debits for a session in euros. SEPA debits are euros only.
fn payment_method_types(params: &Value, currency: &str) -> Result<Vec<String>, ApiError> {
    let listed = strings(params, "payment_method_types");
    if listed.is_empty() {
        let mut types = vec!["card".to_string()];
        if currency == "eur" {
            types.push("sepa_debit".into());
        }
        return Ok(types);
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
        let name = account
            .products
            .get(&price.product)
            .map(|p| p.name.clone())
            .unwrap_or_default();
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
    let unit_amount = integer(data, "unit_amount", &pd("unit_amount"))?
        .ok_or_else(|| ApiError::missing(&pd("unit_amount")))?;
    if unit_amount < 0 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 0.",
            Some(&pd("unit_amount")),
        ));
    }
    if unit_amount > MAXIMUM_AMOUNT {
        return Err(ApiError::invalid(
            format!("This value must be less than or equal to {MAXIMUM_AMOUNT}."),
            Some(&pd("unit_amount")),
        ));
    }
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

fn boolean(params: &Value, key: &str) -> Result<Option<bool>, ApiError> {
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

pub fn create_product(account: &mut Account, params: &Value) -> Result<Value, ApiError> {
    let name = text(params, "name").ok_or_else(|| ApiError::missing("name"))?;
    let id = match text(params, "id") {
        Some(id) if account.products.contains_key(id) => {
            return Err(ApiError::invalid("Product already exists.", Some("id"))
                .with_code("resource_already_exists"))
        }
        Some(id) => id.to_string(),
        None => new_id("prod_"),
    };
    let images = strings(params, "images");
    if images.len() > 8 {
        return Err(ApiError::invalid(
            "A product can have at most 8 images.",
            Some("images"),
        ));
    }
    let product = Product {
        id,
        name: name.to_string(),
        created: account.now(),
        active: boolean(params, "active")?.unwrap_or(true),
        description: text(params, "description").map(str::to_string),
        images,
        metadata: metadata(params, "metadata")?,
    };
    let json = Account::product_json(&product);
    account.products.insert(product.id.clone(), product);
    Ok(json)
}

pub fn create_price(account: &mut Account, params: &Value) -> Result<Value, ApiError> {
    let currency = currency(text(params, "currency"), "currency")?;
    let unit_amount = integer(params, "unit_amount", "unit_amount")?
        .ok_or_else(|| ApiError::missing("unit_amount"))?;
    if unit_amount < 0 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 0.",
            Some("unit_amount"),
        ));
    }
    if unit_amount > MAXIMUM_AMOUNT {
        return Err(ApiError::invalid(
            format!("This value must be less than or equal to {MAXIMUM_AMOUNT}."),
            Some("unit_amount"),
        ));
    }
    let active = boolean(params, "active")?.unwrap_or(true);
    let lookup_key = text(params, "lookup_key").map(str::to_string);
    if let Some(key) = &lookup_key {
        if let Some(other) = account
            .prices
            .values()
            .find(|p| p.active && p.lookup_key.as_ref() == Some(key))
        {
            return Err(ApiError::invalid(
                format!("A price ({}) already uses that lookup key.", other.id),
                Some("lookup_key"),
            ));
        }
    }
    let price_metadata = metadata(params, "metadata")?;
    let product = match (
        text(params, "product"),
        params.get("product_data").and_then(|p| text(p, "name")),
    ) {
        (Some(id), _) => account
            .products
            .get(id)
            .map(|p| p.id.clone())
            .ok_or_else(|| ApiError::no_such("product", id, "product"))?,
        (None, Some(name)) => {
            let p = Product {
                id: new_id("prod_"),
                name: name.to_string(),
                created: account.now(),
                active: true,
                description: None,
                images: Vec::new(),
                metadata: params
                    .get("product_data")
                    .map(|d| metadata(d, "metadata"))
                    .transpose()?
                    .unwrap_or_default(),
            };
            let id = p.id.clone();
            account.products.insert(id.clone(), p);
            id
        }
        (None, None) => return Err(ApiError::missing("product")),
    };
    let price = Price {
        id: new_id("price_"),
        product,
        unit_amount,
        currency,
        created: account.now(),
        active,
        nickname: text(params, "nickname").map(str::to_string),
        lookup_key,
        metadata: price_metadata,
    };
    let json = Account::price_json(&price);
    account.prices.insert(price.id.clone(), price);
    Ok(json)
}

pub fn create_refund(
    account: &mut Account,
    params: &Value,
    cause: &Cause,
) -> Result<Value, ApiError> {
    let pi_id =
        text(params, "payment_intent").ok_or_else(|| ApiError::missing("payment_intent"))?;
    let now = account.now();
    let pi = account
        .payment_intents
        .get_mut(pi_id)
        .ok_or_else(|| ApiError::no_such("payment_intent", pi_id, "payment_intent"))?;
    if pi.status != "succeeded" {
        return Err(ApiError::invalid(
            format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
            Some("payment_intent"),
        )
        .with_code("charge_not_refundable"));
    }
    let refundable = pi.amount_received - pi.refunded;
    if refundable <= 0 {
        let charge = Account::succeeded_charge(pi)
            .map(|c| c.id.clone())
            .unwrap_or_default();
        return Err(
            ApiError::invalid(format!("Charge {charge} has already been refunded."), None)
                .with_code("charge_already_refunded"),
        );
    }
    let amount = integer(params, "amount", "amount")?.unwrap_or(refundable);
    if amount < 1 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 1.",
            Some("amount"),
        )
        .with_code("parameter_invalid_integer"));
    }
    if amount > refundable {
        return Err(ApiError::invalid(
            format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})."),
            Some("amount"),
        )
        .with_code("amount_too_large"));
    }
    pi.refunded += amount;
    let charge = Account::succeeded_charge(pi).map(|c| c.id.clone());
    let refund = crate::shapes::shape(
        "refund",
        serde_json::json!({
            "id": new_id("re_"), "object": "refund", "amount": amount, "charge": charge,
            "created": now, "currency": pi.currency,
            "metadata": metadata(params, "metadata")?, "payment_intent": pi_id,
            "payment_method": pi.payment_method, "reason": text(params, "reason"),
            "status": "succeeded",
        }),
    );
    pi.refunds.push(refund.clone());
    account.refunds.insert(
        refund["id"].as_str().unwrap_or_default().to_string(),
        refund.clone(),
    );
    let charge = Account::succeeded_charge(pi).map(|c| Account::charge_json(pi, c));
    account.emit("refund.created", refund.clone(), cause);
    if let Some(charge) = charge {
        account.emit("charge.refunded", charge, cause);
    }
    Ok(refund)
}
