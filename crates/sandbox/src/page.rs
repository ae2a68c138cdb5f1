//! The hosted payment page at each open session's `url`: the cart, the customer's email
//! (prefilled with `customer_email`), a card field and, where the session takes them, a SEPA debit
//! field; the test card or IBAN decides what happens, as on Stripe's test-mode page. A card that
//! asks for 3-D Secure leads to a challenge page the customer completes or fails.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};

use crate::error::ApiError;
use crate::shipping::Entered;
use crate::state::{
    Account, Cause, Method, Outcome, Session, SessionStatus, IBAN_FAILS, IBAN_SUCCEEDS,
};
use crate::Shared;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/c/pay/{id}", get(show).post(submit))
        .route("/c/pay/{id}/authenticate", get(show).post(authenticate))
}

#[derive(serde::Deserialize)]
struct Submission {
    #[serde(default)]
    card: String,
    #[serde(default)]
    iban: String,
    #[serde(default)]
    email: String,
    #[serde(flatten)]
    shipping: Entered,
}

#[derive(serde::Deserialize)]
struct Challenge {
    action: String,
}

async fn show(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    shared.with_account(|a| {
        a.expire_due(&shared.base_url);
        render(a, a.sessions.get(&id), None)
    })
}

async fn submit(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<Submission>,
) -> Response {
    let method = if form.iban.trim().is_empty() {
        Method::Card(form.card)
    } else {
        Method::Iban(form.iban)
    };
    shared.with_account(|a| {
        let outcome = a.enter_shipping(&id, &form.shipping).and_then(|()| {
            a.pay(
                &id,
                &method,
                Some(&form.email),
                &shared.base_url,
                &Cause::default(),
            )
        });
        answer(a, &id, outcome)
    })
}

async fn authenticate(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<Challenge>,
) -> Response {
    let complete = form.action == "complete";
    shared.with_account(|a| {
        let outcome = a.authenticate(&id, complete, &shared.base_url, &Cause::default());
        answer(a, &id, outcome)
    })
}

/// Where an attempt leads: the shop's success URL, the challenge, or the page again with why.
fn answer(a: &Account, id: &str, outcome: Result<Outcome, ApiError>) -> Response {
    match outcome {
        Ok(Outcome::Paid { redirect, .. }) | Ok(Outcome::Processing { redirect, .. }) => {
            Redirect::to(&redirect).into_response()
        }
        Ok(Outcome::RequiresAction { challenge, .. }) => Redirect::to(&challenge).into_response(),
        Ok(Outcome::Declined { message, .. }) => {
            render(a, a.sessions.get(id), Some(message.to_string()))
        }
        Err(e) => render(a, a.sessions.get(id), Some(e.message)),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `12.50 EUR`, `1200 JPY`, `5.120 KWD`: as many decimals as Stripe gives the currency.
fn money(amount: i64, currency: &str) -> String {
    let code = currency.to_uppercase();
    match caisse_stripe::currency_exponent(&currency.to_lowercase()) {
        0 => format!("{amount} {code}"),
        exp => {
            let scale = 10i64.pow(exp);
            let width = exp as usize;
            format!("{}.{:0width$} {code}", amount / scale, amount % scale)
        }
    }
}

fn render(account: &Account, session: Option<&Session>, error: Option<String>) -> Response {
    let Some(s) = session else {
        return (
            StatusCode::NOT_FOUND,
            Html(page("Not found", "<p>No such Checkout Session.</p>")),
        )
            .into_response();
    };
    if s.status != SessionStatus::Open {
        let body = format!(
            "<p>This checkout is {}.</p>{}",
            if s.status == SessionStatus::Complete {
                "complete"
            } else {
                "no longer available"
            },
            s.cancel_url
                .as_deref()
                .map(|u| format!("<p><a href=\"{}\">Back to the shop</a></p>", escape(u)))
                .unwrap_or_default()
        );
        return (StatusCode::GONE, Html(page("Checkout", &body))).into_response();
    }
    let lines: String = s
        .line_items
        .iter()
        .map(|li| {
            format!(
                "<tr><td>{} × {}</td><td>{}</td></tr>",
                li.quantity,
                escape(&li.description),
                money(li.unit_amount * li.quantity, &li.currency)
            )
        })
        .collect();
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(&e)))
        .unwrap_or_default();
    let cancel = s
        .cancel_url
        .as_deref()
        .map(|u| {
            format!(
                "<p><a href=\"{}\">Cancel and return to the shop</a></p>",
                escape(u)
            )
        })
        .unwrap_or_default();
    let total = money(s.total(), &s.currency);
    let challenged = s
        .payment_intent
        .as_ref()
        .and_then(|id| account.payment_intents.get(id))
        .is_some_and(|pi| pi.status == "requires_action");
    if challenged {
        // Stripe's 3-D Secure test page: the bank asks; the customer completes or fails.
        let body = format!(
            r#"<p>Your bank asks you to confirm the payment of {total} (3-D Secure test).</p>
{error}
<form method="post" action="/c/pay/{id}/authenticate"><input type="hidden" name="action" value="complete">
<button type="submit" name="complete">Complete authentication</button></form>
<form method="post" action="/c/pay/{id}/authenticate"><input type="hidden" name="action" value="fail">
<button type="submit" name="fail">Fail authentication</button></form>"#,
            id = escape(&s.id),
        );
        return Html(page("3-D Secure — caisse sandbox", &body)).into_response();
    }
    // The customer's email: Stripe's page asks for it, prefilled (and fixed) with the
    // `customer_email` the shop gave.
    let email = match &s.customer_email {
        Some(e) => format!(
            r#"<label>Email <input name="email" type="email" value="{}" readonly></label>"#,
            escape(e)
        ),
        None => {
            r#"<label>Email <input name="email" type="email" autocomplete="email"></label>"#.into()
        }
    };
    let email = format!("{email}{}", shipping_fields(s));
    // The chosen (first) rate's line; the total includes it.
    let shipping = match s.chosen_rate().and_then(|i| s.shipping.options.get(i)) {
        Some(r) => format!(
            "<tr><td>Shipping ({})</td><td>{}</td></tr>",
            escape(&r.display_name),
            money(r.amount, &r.currency)
        ),
        None => String::new(),
    };
    let sepa = if s.payment_method_types.iter().any(|t| t == "sepa_debit") {
        format!(
            r#"<form method="post">{email}<label>IBAN (SEPA debit) <input name="iban" value="{IBAN_SUCCEEDS}"></label>
<button type="submit">Pay by SEPA debit</button></form>"#
        )
    } else {
        String::new()
    };
    let body = format!(
        r#"<table>{lines}{shipping}<tr><th>Total</th><th>{total}</th></tr></table>
{error}
<form method="post">{email}<label>Card number <input name="card" value="4242 4242 4242 4242" autocomplete="off"></label>
<button type="submit">Pay {total}</button></form>
{sepa}
<p class="hint">Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 and 4000 0000 0000 9995 decline;
4000 0027 6000 3184 asks for 3-D Secure; 4000 0000 0000 0259 pays, then is disputed. IBAN {IBAN_SUCCEEDS} settles, {IBAN_FAILS} fails.</p>
{cancel}"#,
    );
    let mut response = Html(page("Pay — caisse sandbox", &body)).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        "no-store".parse().expect("static header"),
    );
    response
}

/// The address, rate and phone fields a session asks for (Stripe's page asks the same):
/// `shipping_name`, `shipping_line1`, `shipping_line2`, `shipping_postal_code`, `shipping_city`,
/// `shipping_country` (one of the allowed countries), `shipping_rate` (a `shr_` id, the first
/// chosen) and `phone`.
fn shipping_fields(s: &Session) -> String {
    let mut html = String::new();
    let setup = &s.shipping;
    if !setup.allowed_countries.is_empty() {
        let countries: String = setup
            .allowed_countries
            .iter()
            .map(|c| format!(r#"<option value="{c}">{c}</option>"#, c = escape(c)))
            .collect();
        html.push_str(&format!(
            r#"<fieldset><legend>Shipping address</legend>
<label>Name <input name="shipping_name" autocomplete="name"></label>
<label>Address <input name="shipping_line1" autocomplete="address-line1"></label>
<label>Address line 2 <input name="shipping_line2" autocomplete="address-line2"></label>
<label>Postal code <input name="shipping_postal_code" autocomplete="postal-code"></label>
<label>City <input name="shipping_city" autocomplete="address-level2"></label>
<label>Country <input name="shipping_country" list="countries" autocomplete="country"></label>
<datalist id="countries">{countries}</datalist></fieldset>"#
        ));
    }
    if !setup.options.is_empty() {
        let rates: String = setup
            .options
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    r#"<label><input type="radio" name="shipping_rate" value="{id}"{checked}> {name} — {amount}</label>"#,
                    id = escape(&r.id),
                    checked = if i == 0 { " checked" } else { "" },
                    name = escape(&r.display_name),
                    amount = money(r.amount, &r.currency),
                )
            })
            .collect();
        html.push_str(&format!(
            "<fieldset><legend>Shipping method</legend>{rates}</fieldset>"
        ));
    }
    if setup.collect_phone {
        html.push_str(r#"<label>Phone <input name="phone" type="tel" autocomplete="tel"></label>"#);
    }
    html
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:2rem auto;padding:0 1rem}}
table{{width:100%;margin-bottom:1rem}}td:last-child,th:last-child{{text-align:right}}
form{{margin:1rem 0}}input{{width:100%;padding:.4rem;margin:.3rem 0}}input[type=radio]{{width:auto;margin-right:.4rem}}button{{padding:.5rem 1rem}}
.error{{color:#b00020}}.hint{{color:#666;font-size:.85rem}}.banner{{background:#fff3cd;padding:.4rem}}</style></head>
<body><p class="banner">caisse sandbox — test mode, no real payment</p><h1>{title}</h1>{body}</body></html>"#,
        title = escape(title)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_show_the_currency_s_decimals() {
        assert_eq!(super::money(1250, "eur"), "12.50 EUR");
        assert_eq!(super::money(1200, "jpy"), "1200 JPY");
    }
}
