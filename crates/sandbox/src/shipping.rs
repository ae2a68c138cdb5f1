//! Shipping on a Checkout Session, as Stripe does it: `shipping_address_collection` (the
//! countries the page accepts, from Stripe's list), `shipping_options[][shipping_rate_data]` (each becomes a `shr_`
//! rate; the first is chosen until the customer picks another), `phone_number_collection`; and
//! what the customer enters on the page, refused as Stripe's page refuses it (a missing address,
//! a country outside the list, a rate the session does not offer, a missing phone number).

use serde_json::{json, Value};

use crate::countries::SHIPPING_COUNTRIES;
use crate::error::ApiError;
use crate::fields::{boolean, currency, integer, metadata, strings, text};
use crate::state::{new_id, Account, Metadata, SessionStatus};

/// One rate the session offers, as created from its `shipping_rate_data`.
#[derive(Clone, Debug)]
pub struct ShippingRate {
    pub id: String,
    pub display_name: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    /// `(unit, value)` of the minimum and maximum delivery estimate.
    pub minimum: Option<(String, i64)>,
    pub maximum: Option<(String, i64)>,
    pub metadata: Metadata,
}

/// What a session asks the customer about shipping.
#[derive(Clone, Debug, Default)]
pub struct ShippingSetup {
    /// Empty: no address is asked.
    pub allowed_countries: Vec<String>,
    pub options: Vec<ShippingRate>,
    pub collect_phone: bool,
}

/// What the customer entered on the page: the form fields `shipping_name`, `shipping_line1`,
/// `shipping_line2`, `shipping_postal_code`, `shipping_city`, `shipping_country`,
/// `shipping_rate` (a `shr_` id) and `phone` (the control API takes the same names).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Entered {
    #[serde(default)]
    pub shipping_name: String,
    #[serde(default)]
    pub shipping_line1: String,
    #[serde(default)]
    pub shipping_line2: String,
    #[serde(default)]
    pub shipping_postal_code: String,
    #[serde(default)]
    pub shipping_city: String,
    #[serde(default)]
    pub shipping_country: String,
    #[serde(default)]
    pub shipping_rate: String,
    #[serde(default)]
    pub phone: String,
}

/// What the session keeps of it once a payment is submitted.
#[derive(Clone, Debug, Default)]
pub struct Collected {
    /// `(name, line1, line2, postal_code, city, country)`; none when no address was asked.
    pub address: Option<Address>,
    pub phone: Option<String>,
    /// Index of the chosen rate in the session's options.
    pub rate: Option<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Address {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

/// Reads the session's shipping parameters; rates must be in the session's currency.
pub fn setup(params: &Value, session_currency: &str, now: i64) -> Result<ShippingSetup, ApiError> {
    let mut allowed_countries = Vec::new();
    if let Some(collection) = params.get("shipping_address_collection") {
        allowed_countries = strings(collection, "allowed_countries");
        if allowed_countries.is_empty() {
            return Err(ApiError::missing(
                "shipping_address_collection[allowed_countries]",
            ));
        }
        for (i, country) in allowed_countries.iter().enumerate() {
            if !SHIPPING_COUNTRIES.contains(&country.as_str()) {
                let param = format!("shipping_address_collection[allowed_countries][{i}]");
                return Err(ApiError::invalid(
                    format!(
                        "Invalid {param}: must be one of {}",
                        SHIPPING_COUNTRIES.join(", ")
                    ),
                    Some(&param),
                )
                .with_code("parameter_invalid_string"));
            }
        }
    }
    let mut options = Vec::new();
    if let Some(Value::Array(list)) = params.get("shipping_options") {
        if list.len() > 5 {
            return Err(ApiError::invalid(
                "You can only pass up to 5 shipping options.",
                Some("shipping_options"),
            ));
        }
        for (i, option) in list.iter().enumerate() {
            options.push(rate(option, i, session_currency, now)?);
        }
    }
    if !options.is_empty() && allowed_countries.is_empty() {
        return Err(ApiError::invalid(
            "`shipping_options` requires `shipping_address_collection` to be set.",
            Some("shipping_options"),
        ));
    }
    let collect_phone = params
        .get("phone_number_collection")
        .map(|p| boolean(p, "enabled"))
        .transpose()?
        .flatten()
        .unwrap_or(false);
    Ok(ShippingSetup {
        allowed_countries,
        options,
        collect_phone,
    })
}

fn rate(
    option: &Value,
    i: usize,
    session_currency: &str,
    now: i64,
) -> Result<ShippingRate, ApiError> {
    let param = |k: &str| format!("shipping_options[{i}][shipping_rate_data]{k}");
    let data = option.get("shipping_rate_data").ok_or_else(|| {
        ApiError::invalid(
            "The sandbox takes shipping_options[][shipping_rate_data] only.",
            Some(&format!("shipping_options[{i}]")),
        )
    })?;
    let display_name =
        text(data, "display_name").ok_or_else(|| ApiError::missing(&param("[display_name]")))?;
    let fixed = data
        .get("fixed_amount")
        .ok_or_else(|| ApiError::missing(&param("[fixed_amount]")))?;
    let amount = integer(fixed, "amount", &param("[fixed_amount][amount]"))?
        .ok_or_else(|| ApiError::missing(&param("[fixed_amount][amount]")))?;
    if amount < 0 {
        return Err(ApiError::invalid(
            "This value must be greater than or equal to 0.",
            Some(&param("[fixed_amount][amount]")),
        ));
    }
    let currency = currency(text(fixed, "currency"), &param("[fixed_amount][currency]"))?;
    if currency != session_currency {
        return Err(ApiError::invalid(
            format!("The shipping rate's currency ({currency}) must match the session's ({session_currency})."),
            Some(&param("[fixed_amount][currency]")),
        ));
    }
    crate::currencies::check_chargeable(amount, &currency, &param("[fixed_amount][amount]"))?;
    let bound = |which: &str| -> Result<Option<(String, i64)>, ApiError> {
        let Some(b) = data.get("delivery_estimate").and_then(|d| d.get(which)) else {
            return Ok(None);
        };
        let key = param(&format!("[delivery_estimate][{which}][value]"));
        let value = integer(b, "value", &key)?.ok_or_else(|| ApiError::missing(&key))?;
        Ok(Some((
            text(b, "unit").unwrap_or("business_day").to_string(),
            value,
        )))
    };
    Ok(ShippingRate {
        id: new_id("shr_"),
        display_name: display_name.to_string(),
        amount,
        currency,
        created: now,
        minimum: bound("minimum")?,
        maximum: bound("maximum")?,
        metadata: metadata(data, "metadata")?,
    })
}

impl ShippingSetup {
    /// Checks what the customer entered against what the session asks.
    pub fn collect(&self, e: &Entered) -> Result<Collected, ApiError> {
        let field = |s: &str| s.trim().to_string();
        let address = if self.allowed_countries.is_empty() {
            None
        } else {
            let a = Address {
                name: field(&e.shipping_name),
                line1: field(&e.shipping_line1),
                line2: Some(field(&e.shipping_line2)).filter(|l| !l.is_empty()),
                postal_code: field(&e.shipping_postal_code),
                city: field(&e.shipping_city),
                country: field(&e.shipping_country).to_ascii_uppercase(),
            };
            if [&a.name, &a.line1, &a.postal_code, &a.city, &a.country]
                .iter()
                .any(|f| f.is_empty())
            {
                return Err(ApiError::invalid(
                    "Your shipping address is incomplete.",
                    Some("shipping_address"),
                )
                .with_code("shipping_address_incomplete"));
            }
            if !self.allowed_countries.contains(&a.country) {
                return Err(ApiError::invalid(
                    format!("This shop does not ship to {}.", a.country),
                    Some("shipping_country"),
                )
                .with_code("shipping_country_not_allowed"));
            }
            Some(a)
        };
        let rate = match e.shipping_rate.trim() {
            "" if self.options.is_empty() => None,
            "" => Some(0),
            id => Some(
                self.options
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            format!("No such shipping rate on this session: {id}"),
                            Some("shipping_rate"),
                        )
                    })?,
            ),
        };
        let phone = Some(e.phone.trim().to_string()).filter(|p| !p.is_empty());
        if self.collect_phone && phone.is_none() {
            return Err(
                ApiError::invalid("Your phone number is missing.", Some("phone"))
                    .with_code("phone_number_missing"),
            );
        }
        Ok(Collected {
            address,
            phone,
            rate,
        })
    }
}

impl ShippingRate {
    /// Stripe's `shipping_rate` object.
    pub fn json(&self) -> Value {
        let estimate = |b: &Option<(String, i64)>| {
            b.as_ref()
                .map(|(unit, value)| json!({"unit": unit, "value": value}))
        };
        json!({
            "id": self.id, "object": "shipping_rate", "active": true, "created": self.created,
            "delivery_estimate": if self.minimum.is_some() || self.maximum.is_some() {
                json!({"minimum": estimate(&self.minimum), "maximum": estimate(&self.maximum)})
            } else { Value::Null },
            "display_name": self.display_name,
            "fixed_amount": {"amount": self.amount, "currency": self.currency},
            "livemode": false, "metadata": self.metadata, "tax_behavior": "unspecified",
            "tax_code": null, "type": "fixed_amount",
        })
    }
}

impl Address {
    pub fn json(&self) -> Value {
        json!({
            "city": self.city, "country": self.country, "line1": self.line1, "line2": self.line2,
            "postal_code": self.postal_code, "state": null,
        })
    }
}

impl Account {
    /// Records what the customer entered on an open session's page, refused as Stripe's page
    /// refuses it; a session that asks for nothing ignores it.
    pub fn enter_shipping(&mut self, session_id: &str, entered: &Entered) -> Result<(), ApiError> {
        let session = self.checkout_session_mut(session_id)?;
        if session.status != SessionStatus::Open || !session.needs_collection() {
            // `pay` says why a closed session cannot be paid.
            return Ok(());
        }
        session.collected = Some(session.shipping.collect(entered)?);
        let (total, pi) = (session.total(), session.payment_intent.clone());
        // A declined attempt was made at another rate: the PaymentIntent follows the choice.
        if let Some(pi) = pi.and_then(|id| self.payment_intents.get_mut(&id)) {
            if pi.status == "requires_payment_method" {
                pi.amount = total;
            }
        }
        Ok(())
    }
}
