//! What an owner changes on the products page, as a service: a stock adjustment (a signed
//! quantity with a reason, never below what open checkouts hold), and a product's price, on/off
//! and low-stock threshold. Each is one unit of work with its audit entry; the low-stock watch
//! runs in it. Open checkouts keep the price they were given: their hold and Stripe session
//! carry it.

use serde_json::json;

use crate::domain::money::{format_amount, Currency};
use crate::domain::product::{MAX_STOCK_ON_HAND, MAX_UNIT_AMOUNT};
use crate::store::{AuditEntry, StockRefusal, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// A refusal in words, for the page.
    #[error("{0}")]
    Refused(String),
    #[error("no such product")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Adds `delta` to a product's stock on hand (a count, a delivery, breakage) with a reason, and
/// answers the new figure.
pub async fn adjust_stock(
    store: &Store,
    product_id: &str,
    delta: i64,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<i64, ProductError> {
    let reason = reason.trim();
    if delta == 0 {
        return Err(ProductError::Refused(
            "the quantity must be a whole number other than 0: 12 adds twelve, -3 takes three away"
                .into(),
        ));
    }
    if reason.is_empty() {
        return Err(ProductError::Refused(
            "say why (a delivery, a stock count, breakage): the reason is kept in the audit log"
                .into(),
        ));
    }
    if delta.unsigned_abs() > MAX_STOCK_ON_HAND.unsigned_abs() {
        return Err(ProductError::Refused(format!(
            "the quantity must be between -{MAX_STOCK_ON_HAND} and +{MAX_STOCK_ON_HAND}"
        )));
    }
    let result: Option<Result<i64, StockRefusal>> = store
        .write(async |tx| {
            let Some(adjusted) = tx.adjust_stock(product_id, delta, now).await? else {
                return Ok(None);
            };
            let Ok(on_hand) = adjusted else {
                return Ok(Some(adjusted));
            };
            tx.audit(
                AuditEntry {
                    actor,
                    action: "stock.adjusted",
                    entity_type: "product",
                    entity_id: product_id,
                    before: Some(json!({ "stock_on_hand": on_hand - delta })),
                    after: Some(
                        json!({ "stock_on_hand": on_hand, "delta": delta, "reason": reason }),
                    ),
                    message: format!(
                        "Stock of {product_id} adjusted by {delta:+} to {on_hand} on hand: {reason}"
                    ),
                },
                now,
            )
            .await?;
            Ok::<_, StoreError>(Some(adjusted))
        })
        .await?;
    match result {
        None => Err(ProductError::NotFound),
        Some(Ok(on_hand)) => Ok(on_hand),
        Some(Err(StockRefusal::AboveMax)) => Err(ProductError::Refused(format!(
            "a product's stock on hand cannot be more than {MAX_STOCK_ON_HAND} units"
        ))),
        Some(Err(StockRefusal::BelowHeld(b))) => Err(ProductError::Refused(format!(
            "{} has {} on hand and open checkouts hold {}: it cannot go below {} (at most {} can be taken away now)",
            b.name,
            b.on_hand,
            b.held,
            b.held,
            b.on_hand - b.held
        ))),
    }
}

/// What the products page's form sets for one product.
pub struct Edit {
    pub unit_amount: i64,
    pub active: bool,
    pub low_stock_threshold: Option<i64>,
}

/// Changes a product's price, on/off and threshold. A product sold at a Stripe Price keeps its
/// price here: Stripe charges the Price, so a change belongs in Stripe and the catalog file.
pub async fn edit(
    store: &Store,
    product_id: &str,
    edit: Edit,
    actor: &str,
    now: i64,
) -> Result<(), ProductError> {
    let Some(p) = store.product(product_id).await? else {
        return Err(ProductError::NotFound);
    };
    let currency = Currency::parse(&p.currency).map_err(ProductError::Refused)?;
    if edit.unit_amount != p.unit_amount {
        if p.stripe_price_id.is_some() {
            return Err(ProductError::Refused(format!(
                "{} is sold at the Stripe Price {}: change its price in Stripe and in the catalog file",
                p.name,
                p.stripe_price_id.as_deref().unwrap_or_default()
            )));
        }
        if !(0..=MAX_UNIT_AMOUNT).contains(&edit.unit_amount)
            || !caisse_stripe::currency::chargeable_unit(edit.unit_amount, currency.as_str())
        {
            return Err(ProductError::Refused(format!(
                "{} is not a price Stripe can charge in {}",
                format_amount(edit.unit_amount, &p.currency),
                p.currency.to_ascii_uppercase()
            )));
        }
    }
    if edit.low_stock_threshold.is_some_and(|t| t < 0) {
        return Err(ProductError::Refused(
            "the low-stock threshold is a number of units, 0 or more (empty: no alert)".into(),
        ));
    }
    let before = json!({ "unit_amount": p.unit_amount, "active": p.active, "low_stock_threshold": p.low_stock_threshold });
    let after = json!({ "unit_amount": edit.unit_amount, "active": edit.active, "low_stock_threshold": edit.low_stock_threshold });
    if before == after {
        return Ok(());
    }
    let mut changes = Vec::new();
    if edit.unit_amount != p.unit_amount {
        changes.push(format!(
            "price {} → {}",
            format_amount(p.unit_amount, &p.currency),
            format_amount(edit.unit_amount, &p.currency)
        ));
    }
    if edit.active != p.active {
        changes.push(
            if edit.active {
                "turned on"
            } else {
                "turned off"
            }
            .to_string(),
        );
    }
    if edit.low_stock_threshold != p.low_stock_threshold {
        changes.push(match edit.low_stock_threshold {
            Some(t) => format!("low-stock alert at {t} or fewer"),
            None => "no low-stock alert".to_string(),
        });
    }
    store
        .write(async |tx| {
            tx.edit_product(
                product_id,
                edit.unit_amount,
                edit.active,
                edit.low_stock_threshold,
                now,
            )
            .await?;
            tx.audit(
                AuditEntry {
                    actor,
                    action: "product.edited",
                    entity_type: "product",
                    entity_id: product_id,
                    before: Some(before.clone()),
                    after: Some(after.clone()),
                    message: format!("Product {product_id}: {}", changes.join(", ")),
                },
                now,
            )
            .await
        })
        .await?;
    Ok(())
}
