//! Creating Products and Prices from decoded form parameters, with Stripe's validation: ids
//! given or made, lookup keys unique among active prices, a price's product given or made inline
//! (`product_data`).

use serde_json::Value;

use crate::error::ApiError;
use crate::fields::{boolean, currency, metadata, strings, text, unit_amount};
use crate::state::{new_id, Account, Price, Product};

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
    let unit_amount = unit_amount(params, "unit_amount")?;
    crate::currencies::check_chargeable(unit_amount, &currency, "unit_amount")?;
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
