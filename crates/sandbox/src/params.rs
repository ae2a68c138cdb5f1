//! Which parameters each emulated endpoint takes. Stripe refuses a parameter it does not know
//! (`400 parameter_unknown`, "Received unknown parameter: …", naming it in `param`), nested ones
//! included, so a misspelt parameter fails at once instead of being ignored; the sandbox does the
//! same. A parameter Stripe knows but the sandbox does not emulate (a customer, discounts …) is
//! refused too, by name (`parameter_not_emulated`), rather than accepted and silently ignored:
//! a green test against the sandbox must not hide a behaviour it never ran. The README lists
//! both.
//!
//! A pattern is a parameter in Stripe's bracket form: `[]` is any array index, `[*]` any key of
//! a hash (metadata). `name=a|b` takes only those values; another value is not emulated when
//! Stripe has it ([`STRIPE_VALUES`]), and invalid otherwise, as Stripe would say.

use serde_json::Value;

use crate::error::ApiError;

mod catalog;
pub use catalog::{CREATE_PRICE, CREATE_PRODUCT, LIST_PRICES, LIST_PRODUCTS, RETRIEVE_PRICE};

/// What one endpoint takes.
pub struct Params {
    /// Emulated parameters.
    pub takes: &'static [&'static str],
    /// Parameters Stripe has that the sandbox refuses by name.
    pub not_emulated: &'static [&'static str],
}

pub const CREATE_SESSION: Params = Params {
    takes: &[
        "mode=payment",
        "success_url",
        "cancel_url",
        "client_reference_id",
        "customer_email",
        "expires_at",
        "locale=auto|bg|cs|da|de|el|en|en-GB|es|es-419|et|fi|fil|fr|fr-CA|hr|hu|id|it|ja|ko|lt|lv|ms|mt|nb|nl|pl|pt|pt-BR|ro|ru|sk|sl|sv|th|tr|vi|zh|zh-HK|zh-TW",
        "submit_type=auto|book|donate|pay|subscribe",
        "metadata[*]",
        "payment_method_types[]=card|sepa_debit",
        "line_items[][price]",
        "line_items[][quantity]",
        "line_items[][price_data][currency]",
        "line_items[][price_data][unit_amount]",
        "line_items[][price_data][product]",
        "line_items[][price_data][product_data][name]",
        "line_items[][price_data][product_data][description]",
        "line_items[][price_data][product_data][images][]",
        "line_items[][price_data][product_data][metadata][*]",
        "payment_intent_data[metadata][*]",
        "payment_intent_data[description]",
        "payment_intent_data[receipt_email]",
        "payment_intent_data[statement_descriptor]",
        "payment_intent_data[statement_descriptor_suffix]",
        "payment_intent_data[capture_method]=automatic|automatic_async|manual",
        "expand[]=payment_intent|payment_intent.latest_charge|line_items",
        "shipping_address_collection[allowed_countries][]",
        "shipping_options[][shipping_rate_data][type]=fixed_amount",
        "shipping_options[][shipping_rate_data][display_name]",
        "shipping_options[][shipping_rate_data][fixed_amount][amount]",
        "shipping_options[][shipping_rate_data][fixed_amount][currency]",
        "shipping_options[][shipping_rate_data][delivery_estimate][minimum][unit]=business_day|day|hour|month|week",
        "shipping_options[][shipping_rate_data][delivery_estimate][minimum][value]",
        "shipping_options[][shipping_rate_data][delivery_estimate][maximum][unit]=business_day|day|hour|month|week",
        "shipping_options[][shipping_rate_data][delivery_estimate][maximum][value]",
        "shipping_options[][shipping_rate_data][metadata][*]",
        "phone_number_collection[enabled]",
    ],
    not_emulated: &[
        "shipping_options[][shipping_rate]",
        "shipping_options[][shipping_rate_data][tax_behavior]",
        "shipping_options[][shipping_rate_data][tax_code]",
        "shipping_options[][shipping_rate_data][fixed_amount][currency_options]",
        "customer",
        "customer_creation",
        "currency",
        "discounts",
        "allow_promotion_codes",
        "automatic_tax",
        "billing_address_collection",
        "tax_id_collection",
        "consent_collection",
        "custom_fields",
        "custom_text",
        "invoice_creation",
        "payment_method_options",
        "payment_method_configuration",
        "payment_method_collection",
        "saved_payment_method_options",
        "after_expiration",
        "subscription_data",
        "setup_intent_data",
        "ui_mode",
        "return_url",
        "redirect_on_completion",
        "line_items[][adjustable_quantity]",
        "line_items[][tax_rates]",
        "line_items[][dynamic_tax_rates]",
        "line_items[][price_data][recurring]",
        "line_items[][price_data][tax_behavior]",
        "line_items[][price_data][unit_amount_decimal]",
        "line_items[][price_data][product_data][tax_code]",
        "payment_intent_data[setup_future_usage]",
        "payment_intent_data[application_fee_amount]",
        "payment_intent_data[on_behalf_of]",
        "payment_intent_data[transfer_data]",
        "payment_intent_data[transfer_group]",
        "payment_intent_data[shipping]",
    ],
};

pub const EXPIRE_SESSION: Params = Params {
    takes: &["expand[]=payment_intent|payment_intent.latest_charge|line_items"],
    not_emulated: &[],
};

pub const CREATE_REFUND: Params = Params {
    takes: &[
        "payment_intent",
        "amount",
        "reason=duplicate|fraudulent|requested_by_customer",
        "metadata[*]",
        "expand[]=",
    ],
    not_emulated: &[
        "charge",
        "refund_application_fee",
        "reverse_transfer",
        "instructions_email",
        "origin",
        "customer",
        "currency",
    ],
};

/// Stripe's update takes metadata only: any other parameter is unknown to it.
pub const UPDATE_REFUND: Params = Params {
    takes: &["metadata[*]", "expand[]="],
    not_emulated: &[],
};

pub const LIST_REFUNDS: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "charge",
        "payment_intent",
        "created",
        "created[gt]",
        "created[gte]",
        "created[lt]",
        "created[lte]",
        "expand[]=",
    ],
    not_emulated: &[],
};

pub const CAPTURE_PAYMENT_INTENT: Params = Params {
    takes: &["amount_to_capture", "expand[]=latest_charge"],
    not_emulated: &[
        "application_fee_amount",
        "final_capture",
        "metadata",
        "statement_descriptor",
        "statement_descriptor_suffix",
        "transfer_data",
        "amount_details",
        "payment_details",
        "hooks",
    ],
};

pub const CANCEL_PAYMENT_INTENT: Params = Params {
    takes: &[
        "cancellation_reason=abandoned|duplicate|fraudulent|requested_by_customer",
        "expand[]=latest_charge",
    ],
    not_emulated: &[],
};

/// Stripe updates a session's metadata any time, and its shipping options and line items only
/// while it is open (not emulated).
pub const UPDATE_SESSION: Params = Params {
    takes: &[
        "metadata[*]",
        "expand[]=payment_intent|payment_intent.latest_charge|line_items",
    ],
    not_emulated: &["collected_information", "shipping_options", "line_items"],
};

/// A session by id.
pub const RETRIEVE_SESSION: Params = Params {
    takes: &["expand[]=payment_intent|payment_intent.latest_charge|line_items"],
    not_emulated: &[],
};

/// A PaymentIntent by id.
pub const RETRIEVE_PAYMENT_INTENT: Params = Params {
    takes: &["expand[]=latest_charge", "client_secret"],
    not_emulated: &[],
};

/// Any other object by id.
pub const RETRIEVE: Params = Params {
    takes: &["expand[]="],
    not_emulated: &[],
};

/// A charge's refunds are listed on it (`refunds`, whose `url` pages them).
pub const RETRIEVE_CHARGE: Params = Params {
    takes: &["expand[]=refunds"],
    not_emulated: &[],
};

/// `GET /v1/charges/{id}/refunds`.
pub const LIST_CHARGE_REFUNDS: Params = Params {
    takes: &["limit", "starting_after", "ending_before", "expand[]="],
    not_emulated: &[],
};

pub const LIST_SESSIONS: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "payment_intent",
        "status",
        "customer",
        "created",
        "created[gt]",
        "created[gte]",
        "created[lt]",
        "created[lte]",
        "expand[]=data.payment_intent|data.payment_intent.latest_charge|data.line_items",
    ],
    not_emulated: &["customer_details", "payment_link", "subscription"],
};

pub const LIST_CHARGES: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "payment_intent",
        "created",
        "created[gt]",
        "created[gte]",
        "created[lt]",
        "created[lte]",
        "expand[]=data.refunds",
    ],
    not_emulated: &["customer", "transfer_group"],
};

pub const LIST_LINE_ITEMS: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "expand[]=data.price.product",
    ],
    not_emulated: &[],
};

pub const LIST_EVENTS: Params = Params {
    takes: &[
        "limit",
        "starting_after",
        "ending_before",
        "type",
        "types[]",
        "created",
        "created[gt]",
        "created[gte]",
        "created[lt]",
        "created[lte]",
        "delivery_success",
        "expand[]=",
    ],
    not_emulated: &[],
};

pub const CREATE_WEBHOOK_ENDPOINT: Params = Params {
    takes: &[
        "url",
        "enabled_events[]",
        "api_version",
        "description",
        "metadata[*]",
        "expand[]=",
    ],
    not_emulated: &["connect"],
};

/// Stripe changes neither an endpoint's API version nor whether it is a Connect endpoint.
pub const UPDATE_WEBHOOK_ENDPOINT: Params = Params {
    takes: &[
        "url",
        "enabled_events[]",
        "description",
        "metadata[*]",
        "disabled",
        "expand[]=",
    ],
    not_emulated: &[],
};

pub const LIST_WEBHOOK_ENDPOINTS: Params = Params {
    takes: &["limit", "starting_after", "ending_before", "expand[]="],
    not_emulated: &[],
};

/// The values Stripe takes for the parameters the sandbox takes only some values of.
const STRIPE_VALUES: &[(&str, &[&str])] = &[
    ("mode", &["payment", "setup", "subscription"]),
    (
        "payment_intent_data[capture_method]",
        &["automatic", "automatic_async", "manual"],
    ),
    (
        "payment_method_types[]",
        &[
            "acss_debit",
            "affirm",
            "afterpay_clearpay",
            "alipay",
            "alma",
            "amazon_pay",
            "au_becs_debit",
            "bacs_debit",
            "bancontact",
            "billie",
            "blik",
            "boleto",
            "card",
            "cashapp",
            "crypto",
            "customer_balance",
            "eps",
            "fpx",
            "giropay",
            "grabpay",
            "ideal",
            "kakao_pay",
            "klarna",
            "konbini",
            "kr_card",
            "link",
            "mobilepay",
            "multibanco",
            "naver_pay",
            "nz_bank_account",
            "oxxo",
            "p24",
            "pay_by_bank",
            "payco",
            "paynow",
            "paypal",
            "pix",
            "promptpay",
            "revolut_pay",
            "samsung_pay",
            "satispay",
            "sepa_debit",
            "sofort",
            "swish",
            "twint",
            "us_bank_account",
            "wechat_pay",
            "zip",
        ],
    ),
];

impl Params {
    /// Refuses the first parameter of `params` this endpoint does not take, as Stripe words it.
    pub fn check(&self, params: &Value) -> Result<(), ApiError> {
        let mut leaves = Vec::new();
        flatten(params, &mut Vec::new(), &mut leaves);
        for (path, value) in leaves {
            let shown = show(&path);
            if self.not_emulated.iter().any(|p| covers(p, &path)) {
                return Err(not_emulated(&shown, &shown));
            }
            let matching: Vec<&&str> = self
                .takes
                .iter()
                .filter(|p| names(split(p).0, &path))
                .collect();
            let Some(pattern) = matching.first() else {
                return Err(ApiError::invalid(
                    format!("Received unknown parameter: {shown}"),
                    Some(&shown),
                )
                .with_code("parameter_unknown"));
            };
            let (whole, allowed) = split(pattern);
            // A list sent as one value (`expand=x` for `expand[]=x`): Stripe wants an array.
            if pattern_segments(whole).get(path.len()) == Some(&"") && !value.is_empty() {
                return Err(ApiError::invalid(
                    format!("Invalid array: {shown} must be a list (`{shown}[]=…`)."),
                    Some(&shown),
                ));
            }
            if let (true, Some(allowed)) = (pattern_segments(whole).len() == path.len(), allowed) {
                if !value.is_empty() && !allowed.split('|').any(|a| a == value) {
                    let stripe_has = STRIPE_VALUES
                        .iter()
                        .find(|(p, _)| *p == whole)
                        .is_some_and(|(_, values)| values.contains(&value));
                    return Err(if shown.starts_with("expand[") {
                        ApiError::invalid(
                            format!("This property cannot be expanded ({value})."),
                            Some(&shown),
                        )
                    } else if stripe_has {
                        not_emulated(&format!("{shown}={value}"), &shown)
                    } else {
                        ApiError::invalid(
                            format!(
                                "Invalid {shown}: must be one of {}",
                                allowed.replace('|', ", ")
                            ),
                            Some(&shown),
                        )
                        .with_code("parameter_invalid_string")
                    });
                }
            }
        }
        Ok(())
    }
}

fn not_emulated(what: &str, param: &str) -> ApiError {
    ApiError::invalid(
        format!(
            "The sandbox does not emulate `{what}` (Stripe accepts it; see the README's sandbox section for what is emulated)."
        ),
        Some(param),
    )
    .with_code("parameter_not_emulated")
}

fn split(pattern: &str) -> (&str, Option<&str>) {
    match pattern.split_once('=') {
        Some((p, values)) => (p, Some(values)),
        None => (pattern, None),
    }
}

/// One segment of a parameter's path: a key, or an array index.
#[derive(Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Every leaf of the decoded parameters, with its path.
fn flatten<'a>(value: &'a Value, path: &mut Vec<Segment>, out: &mut Vec<(Vec<Segment>, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                path.push(Segment::Key(k.clone()));
                flatten(v, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(Segment::Index(i));
                flatten(v, path, out);
                path.pop();
            }
        }
        Value::String(s) => out.push((path.clone(), s)),
        _ => out.push((path.clone(), "")),
    }
}

/// `a[b][0]`, as Stripe names a parameter.
fn show(path: &[Segment]) -> String {
    let mut out = String::new();
    for (i, segment) in path.iter().enumerate() {
        match (i, segment) {
            (0, Segment::Key(k)) => out.push_str(k),
            (_, Segment::Key(k)) => out.push_str(&format!("[{k}]")),
            (_, Segment::Index(n)) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

/// The pattern's segments: `line_items[][price]` is `line_items`, `[]`, `price`.
fn pattern_segments(pattern: &str) -> Vec<&str> {
    let (head, rest) = pattern
        .split_once('[')
        .map_or((pattern, ""), |(h, r)| (h, r));
    let mut segments = vec![head];
    if !rest.is_empty() {
        segments.extend(rest.trim_end_matches(']').split("]["));
    }
    segments
}

fn segment_is(want: &str, got: &Segment) -> bool {
    match got {
        Segment::Key(k) => want == "*" || want == k,
        Segment::Index(_) => want.is_empty() || want == "*",
    }
}

/// A not-emulated `pattern` covers `path` when it names it or a hash or list `path` is inside of.
fn covers(pattern: &str, path: &[Segment]) -> bool {
    let segments = pattern_segments(pattern);
    segments.len() <= path.len() && segments.iter().zip(path).all(|(w, g)| segment_is(w, g))
}

/// An emulated `pattern` names `path` when they are the same parameter, or when `path` stops
/// short of it (`metadata=` clears a hash: the handler judges the value).
fn names(pattern: &str, path: &[Segment]) -> bool {
    let segments = pattern_segments(pattern);
    path.len() <= segments.len() && path.iter().zip(&segments).all(|(g, w)| segment_is(w, g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(accepts: &Params, body: &str) -> Option<(String, String)> {
        let params = caisse_stripe::form::decode(body).unwrap();
        accepts.check(&params).err().map(|e| {
            let body = e.body();
            (
                body["error"]["code"].as_str().unwrap_or("").to_string(),
                body["error"]["param"].as_str().unwrap_or("").to_string(),
            )
        })
    }

    #[test]
    fn what_caisse_sends_is_taken() {
        let body = "mode=payment&success_url=https%3A%2F%2Fs&cancel_url=https%3A%2F%2Fc&client_reference_id=h\
            &metadata[hold_id]=h&payment_intent_data[metadata][hold_id]=h&expires_at=1&customer_email=a%40b.c\
            &line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=100\
            &line_items[0][price_data][product_data][name]=T&line_items[0][price_data][product_data][metadata][product_id]=t\
            &line_items[0][quantity]=1&line_items[1][price]=price_1&line_items[1][quantity]=2&expand[]=line_items";
        assert_eq!(refused(&CREATE_SESSION, body), None);
    }

    #[test]
    fn unknown_and_not_emulated_parameters_are_named() {
        let unknown = |p: &str| Some(("parameter_unknown".to_string(), p.to_string()));
        let not_emulated = |p: &str| Some(("parameter_not_emulated".to_string(), p.to_string()));
        assert_eq!(
            refused(&CREATE_SESSION, "mode=payment&modee=x"),
            unknown("modee")
        );
        assert_eq!(
            refused(
                &CREATE_SESSION,
                "line_items[0][price_data][product_data][nam]=T"
            ),
            unknown("line_items[0][price_data][product_data][nam]")
        );
        assert_eq!(
            refused(&CREATE_SESSION, "mode[x]=payment"),
            unknown("mode[x]")
        );
        assert_eq!(
            refused(&CREATE_SESSION, "automatic_tax[enabled]=true"),
            not_emulated("automatic_tax[enabled]")
        );
        assert_eq!(
            refused(&CREATE_SESSION, "mode=subscription"),
            not_emulated("mode")
        );
        assert_eq!(
            refused(
                &CREATE_SESSION,
                "payment_method_types[0]=card&payment_method_types[1]=klarna"
            ),
            not_emulated("payment_method_types[1]")
        );
        assert_eq!(refused(&LIST_EVENTS, "types[]=a&typ=b"), unknown("typ"));
        assert_eq!(
            refused(&RETRIEVE, "expand[]=customer").map(|e| e.1),
            Some("expand[0]".into())
        );
        assert_eq!(
            refused(&LIST_SESSIONS, "created[gt]=1&created[gte]=2"),
            None
        );
    }
}
