//! The storefront's read API: the catalog and the public configuration.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::app::App;
use crate::error::ApiError;

use super::PublicRoutes;

pub fn routes(r: PublicRoutes) -> PublicRoutes {
    r.get("/api/products", products).get("/api/config", config)
}

/// Active products with what can still be bought, and what other customers' open checkouts hold
/// (until when at the latest), so that a storefront can say "held, back within 20 min" rather than
/// "sold out". Prices are the database's, in minor units.
async fn products(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let products = app.store.active_products().await?;
    let held_until: std::collections::HashMap<String, i64> =
        app.store.held_until().await?.into_iter().collect();
    let list: Vec<Value> = products
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "unit_amount": p.unit_amount,
                "currency": p.currency,
                "available": p.available(),
                "held": p.stock_reserved,
                "held_until": held_until.get(&p.id).filter(|_| p.stock_reserved > 0),
            })
        })
        .collect();
    Ok(Json(json!({ "products": list })))
}

/// What the browser may know: the publishable key and nothing else of Stripe's.
async fn config(State(app): State<App>) -> Json<Value> {
    let stripe = &app.config.stripe;
    Json(json!({
        "publishable_key": stripe.publishable_key,
        "livemode": stripe.mode == crate::config::KeyMode::Live,
    }))
}
