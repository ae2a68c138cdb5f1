//! The products page `/admin/products`: each product's stock figures (on hand, held by open
//! checkouts, sold in 30 days, available) for everyone, and for owners ([`Owner`]) the forms that
//! adjust stock with a reason and set the price, on/off and low-stock threshold.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::App;
use crate::domain::money::{format_amount, parse_major, Currency};
use crate::http::admin::session::{CheckedForm, Operator, Owner};
use crate::http::admin::{error_page, failure, render, Chrome};
use crate::products::{self, Edit, ProductError};
use crate::store::unix_now;

use super::PageRequest;

/// How far back "sold" looks.
const SOLD_WINDOW_SECS: i64 = 30 * 86_400;

struct ProductView {
    id: String,
    name: String,
    active: bool,
    on_hand: i64,
    held: i64,
    sold: i64,
    available: i64,
    price: String,
    price_major: String,
    currency: String,
    threshold_text: String,
    threshold_field: String,
}

#[derive(Template)]
#[template(path = "admin/products.html")]
struct ProductsPage {
    c: Chrome,
    rows: Vec<ProductView>,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, .. }: PageRequest,
) -> Response {
    let rows = match app.store.product_stock(unix_now() - SOLD_WINDOW_SECS).await {
        Ok(rows) => rows,
        Err(e) => return failure(&e.to_string()),
    };
    render(&ProductsPage {
        c,
        rows: rows
            .into_iter()
            .map(|p| {
                let price = format_amount(p.unit_amount, &p.currency);
                ProductView {
                    available: p.available(),
                    price_major: price.split(' ').next().unwrap_or_default().to_string(),
                    price,
                    currency: p.currency.to_ascii_uppercase(),
                    threshold_text: p
                        .low_stock_threshold
                        .map_or("no alert".into(), |t| format!("{t} or fewer")),
                    threshold_field: p
                        .low_stock_threshold
                        .map(|t| t.to_string())
                        .unwrap_or_default(),
                    id: p.id,
                    name: p.name,
                    active: p.active,
                    on_hand: p.stock_on_hand,
                    held: p.stock_reserved,
                    sold: p.sold_30_days,
                }
            })
            .collect(),
    })
}

fn refused(c: Chrome, e: ProductError) -> Response {
    let (status, why) = match e {
        ProductError::Refused(why) => (StatusCode::UNPROCESSABLE_ENTITY, why),
        ProductError::NotFound => (StatusCode::NOT_FOUND, "No such product.".into()),
        ProductError::Store(e) => return failure(&e.to_string()),
    };
    error_page(
        status,
        c,
        &format!("{why} Nothing was changed."),
        "/admin/products",
    )
}

#[derive(serde::Deserialize)]
pub(in super::super) struct Adjustment {
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
}

pub(in super::super) async fn adjust(
    State(app): State<App>,
    Path(id): Path<String>,
    _owner: Owner,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<Adjustment>,
) -> Response {
    let Ok(delta) = f.delta.trim().trim_start_matches('+').parse::<i64>() else {
        return refused(
            c,
            ProductError::Refused(format!(
                "“{}” is not a whole number of units (12 adds, -3 takes away).",
                f.delta.trim()
            )),
        );
    };
    match products::adjust_stock(&app.store, &id, delta, &f.reason, &actor, unix_now()).await {
        Ok(_) => Redirect::to("/admin/products?notice=stock_adjusted").into_response(),
        Err(e) => refused(c, e),
    }
}

#[derive(serde::Deserialize)]
pub(in super::super) struct ProductForm {
    #[serde(default)]
    price: String,
    #[serde(default)]
    low_stock_threshold: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    active: Option<String>,
}

pub(in super::super) async fn edit(
    State(app): State<App>,
    Path(id): Path<String>,
    _owner: Owner,
    CheckedForm {
        operator: Operator { c, actor, .. },
        fields: f,
    }: CheckedForm<ProductForm>,
) -> Response {
    let currency = match app.store.product(&id).await {
        Ok(Some(p)) => p.currency,
        Ok(None) => return refused(c, ProductError::NotFound),
        Err(e) => return failure(&e.to_string()),
    };
    let Some(unit_amount) = Currency::parse(&currency)
        .ok()
        .and_then(|cur| parse_major(&f.price, &cur))
    else {
        return refused(
            c,
            ProductError::Refused(format!(
                "“{}” is not a price in {}.",
                f.price.trim(),
                currency.to_ascii_uppercase()
            )),
        );
    };
    let threshold = match f.low_stock_threshold.trim() {
        "" => None,
        t => match t.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return refused(
                    c,
                    ProductError::Refused(format!(
                        "“{t}” is not a number of units (0 or more; empty for no alert)."
                    )),
                )
            }
        },
    };
    let edit = Edit {
        unit_amount,
        active: f.active.is_some(),
        low_stock_threshold: threshold,
    };
    match products::edit(&app.store, &id, edit, &actor, unix_now()).await {
        Ok(()) => Redirect::to("/admin/products?notice=product_saved").into_response(),
        Err(e) => refused(c, e),
    }
}
