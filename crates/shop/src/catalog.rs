//! Catalog import: JSON or CSV files of products (and, in JSON, the shop's shipping rates),
//! upserted in one transaction, and the demo catalog that `caisse dev` loads into an empty
//! database.
//!
//! A file is all or nothing: every row is validated before anything is written, and a row the
//! database refuses (a new stock below what open checkouts hold) rolls the whole import back.
//! A file that has `"shipping_rates"` replaces the shop's rates with its list (audited); a file
//! without it leaves them as they are.

use serde_json::json;

use crate::domain::product::{ProductInput, ValidProduct};
use crate::domain::shipping::{ShippingRate, ShippingRateInput};
use crate::store::{AuditEntry, Product, Store, StoreError};

/// A parsed catalog file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    pub products: Vec<ValidProduct>,
    /// `None`: the file says nothing of shipping rates (a CSV file, or no `shipping_rates` key).
    pub shipping_rates: Option<Vec<ShippingRate>>,
}

/// The demo catalog: a handful of products, one with a single item in stock, one inactive.
pub const DEMO_CATALOG: &str = include_str!("demo_catalog.json");

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Parse(String),
    #[error("row {row}: {message}")]
    Invalid { row: usize, message: String },
    /// `--set-stock` below what open checkouts hold (their units are promised).
    #[error(
        "product `{id}`: {on_hand} on hand would be fewer than the {held} that open checkouts \
         hold; nothing was imported (count again, or import once those checkouts end)"
    )]
    BelowHeld { id: String, on_hand: i64, held: i64 },
    #[error("product `{id}`: the database refused it ({source})")]
    Refused { id: String, source: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    /// From a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// Parses and validates every row; the first bad row stops everything.
pub fn parse(text: &str, format: Format) -> Result<Catalog, ImportError> {
    let mut rate_inputs = None;
    let inputs: Vec<ProductInput> = match format {
        Format::Json => {
            /// `{"products": [...], "shipping_rates": [...]}`, and no other key: a misspelt one
            /// would be ignored.
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Wrapped {
                products: Vec<ProductInput>,
                #[serde(default)]
                shipping_rates: Option<Vec<ShippingRateInput>>,
            }
            #[derive(serde::Deserialize)]
            #[serde(untagged)]
            enum File {
                List(Vec<ProductInput>),
                Wrapped(Wrapped),
            }
            match serde_json::from_str::<File>(text) {
                Ok(File::List(p)) => p,
                Ok(File::Wrapped(w)) => {
                    rate_inputs = w.shipping_rates;
                    w.products
                }
                Err(_) => {
                    // Untagged enums hide the cause: name an unknown top-level key, else ask
                    // the shape the file has for a precise message.
                    let e = match serde_json::from_str::<serde_json::Value>(text) {
                        Ok(serde_json::Value::Object(map)) => {
                            if let Some(key) = map
                                .keys()
                                .find(|k| !["products", "shipping_rates"].contains(&k.as_str()))
                            {
                                return Err(ImportError::Parse(format!(
                                    "unknown top-level key `{key}`: a catalog is a list of products or {{\"products\": [...], \"shipping_rates\": [...]}}"
                                )));
                            }
                            serde_json::from_str::<Wrapped>(text).err()
                        }
                        _ => serde_json::from_str::<Vec<ProductInput>>(text).err(),
                    };
                    return Err(ImportError::Parse(format!(
                        "not a JSON list of products (or {{\"products\": [...]}}): {}",
                        e.map(|e| e.to_string()).unwrap_or_default()
                    )));
                }
            }
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            // An unknown column is refused, as an unknown JSON field is (a price can only come
            // from a column caisse reads).
            let headers = reader
                .headers()
                .map_err(|e| ImportError::Parse(format!("no CSV header row: {e}")))?;
            if let Some(unknown) = headers.iter().find(|h| !CSV_COLUMNS.contains(h)) {
                return Err(ImportError::Parse(format!(
                    "unknown column `{unknown}`: the columns are {}",
                    CSV_COLUMNS.join(", ")
                )));
            }
            let mut rows = Vec::new();
            for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
                let invalid = |message| ImportError::Invalid {
                    row: i + 1,
                    message,
                };
                let row = row.map_err(|e| invalid(e.to_string()))?;
                rows.push(ProductInput::try_from(row).map_err(invalid)?);
            }
            rows
        }
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let product = input.validate().map_err(|message| ImportError::Invalid {
            row: i + 1,
            message,
        })?;
        if !seen.insert(product.id.clone()) {
            return Err(ImportError::Invalid {
                row: i + 1,
                message: format!("product `{}` appears twice", product.id),
            });
        }
        out.push(product);
    }
    let shipping_rates = rate_inputs.map(parse_rates).transpose()?;
    Ok(Catalog {
        products: out,
        shipping_rates,
    })
}

fn parse_rates(inputs: Vec<ShippingRateInput>) -> Result<Vec<ShippingRate>, ImportError> {
    let mut seen = std::collections::HashSet::new();
    let mut rates = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let invalid = |message| ImportError::Invalid {
            row: i + 1,
            message,
        };
        let rate = input.validate().map_err(invalid)?;
        if !seen.insert(rate.id.clone()) {
            return Err(invalid(format!(
                "shipping rate `{}` appears twice",
                rate.id
            )));
        }
        rates.push(rate);
    }
    Ok(rates)
}

/// The columns a CSV catalog may have (`stock` is another name for `stock_on_hand`).
const CSV_COLUMNS: &[&str] = &[
    "id",
    "name",
    "description",
    "unit_amount",
    "currency",
    "stock_on_hand",
    "stock",
    "stripe_price_id",
    "active",
    "shipping",
    "low_stock_threshold",
];

/// A CSV row: the same columns as the JSON objects, `active` and `stripe_price_id` optional.
#[derive(serde::Deserialize)]
struct CsvRow {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    unit_amount: i64,
    currency: String,
    #[serde(alias = "stock")]
    stock_on_hand: i64,
    #[serde(default)]
    stripe_price_id: Option<String>,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    shipping: Option<String>,
    low_stock_threshold: Option<i64>,
}

/// A CSV yes/no column: `true`/`false`, `1`/`0`, `yes`/`no` in any case, empty for `true` (the
/// JSON default). Anything else is refused by name: a typo such as `off` must not put on sale a
/// product meant to be off.
fn yes_or_no(column: &str, value: Option<String>) -> Result<bool, String> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(format!(
            "`{column}` is `{}`: it takes true or false (also 1/0, yes/no)",
            value.unwrap_or_default()
        )),
    }
}

impl TryFrom<CsvRow> for ProductInput {
    type Error = String;

    fn try_from(r: CsvRow) -> Result<Self, String> {
        Ok(ProductInput {
            active: yes_or_no("active", r.active)?,
            shipping: yes_or_no("shipping", r.shipping)?,
            id: r.id,
            name: r.name,
            description: r.description,
            unit_amount: r.unit_amount,
            currency: r.currency,
            stock_on_hand: r.stock_on_hand,
            stripe_price_id: r.stripe_price_id,
            low_stock_threshold: r.low_stock_threshold,
        })
    }
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// The shipping rates the file set, when it had `shipping_rates`.
    pub shipping_rates: Option<usize>,
}

/// Upserts `products` in one transaction, with an audit entry for each change made by `actor`.
/// What an import does to the stock of products that already exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stock {
    /// Keep it: once orders have sold units, the file's figure is stale, and re-importing the
    /// same file must not bring sold units back (new products take the file's figure).
    Keep,
    /// Set it to the file's figure (`--set-stock`: after a count of the shelves).
    Set,
}

pub async fn import(
    store: &Store,
    catalog: &Catalog,
    stock: Stock,
    actor: &str,
    now: i64,
) -> Result<ImportReport, ImportError> {
    // Locked in id order, as checkout locks them: two writers never wait on each other in a cycle.
    let mut sorted: Vec<&ValidProduct> = catalog.products.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    store
        .write(async |tx| {
            let mut report = ImportReport::default();
            for p in sorted {
                let before = tx.product_for_update(&p.id).await?;
                if before.as_ref().is_some_and(|b| unchanged(b, p, stock)) {
                    report.unchanged += 1;
                    continue;
                }
                if let Some(b) = before.as_ref() {
                    if stock == Stock::Set && p.stock_on_hand < b.stock_reserved {
                        return Err(ImportError::BelowHeld {
                            id: p.id.clone(),
                            on_hand: p.stock_on_hand,
                            held: b.stock_reserved,
                        });
                    }
                }
                let after = tx
                    .upsert_product(p, before.as_ref(), stock == Stock::Set, now)
                    .await
                    .map_err(|source| match source {
                        StoreError::Constraint { .. } => ImportError::Refused {
                            id: p.id.clone(),
                            source,
                        },
                        other => ImportError::Store(other),
                    })?;
                tx.watch_low_stock(&p.id, now).await?;
                let (action, message) = match &before {
                    None => {
                        report.created += 1;
                        (
                            "product.created",
                            format!("Product {} created by catalog import", p.id),
                        )
                    }
                    Some(_) => {
                        report.updated += 1;
                        (
                            "product.updated",
                            format!("Product {} updated by catalog import", p.id),
                        )
                    }
                };
                tx.audit(
                    AuditEntry {
                        actor,
                        action,
                        entity_type: "product",
                        entity_id: &p.id,
                        before: before.map(|b| json!(b)),
                        after: Some(json!(after)),
                        message,
                    },
                    now,
                )
                .await?;
            }
            if let Some(rates) = &catalog.shipping_rates {
                let before = tx.shipping_rates_tx().await?;
                if &before != rates {
                    tx.replace_shipping_rates(rates, now).await?;
                    let ids: Vec<&str> = rates.iter().map(|r| r.id.as_str()).collect();
                    tx.audit(
                        AuditEntry {
                            actor,
                            action: "shipping_rates.replaced",
                            entity_type: "shipping_rates",
                            entity_id: "catalog",
                            before: Some(json!(before)),
                            after: Some(json!(rates)),
                            message: format!(
                                "Shipping rates set by catalog import: {}",
                                if ids.is_empty() {
                                    "none".to_string()
                                } else {
                                    ids.join(", ")
                                }
                            ),
                        },
                        now,
                    )
                    .await?;
                }
                report.shipping_rates = Some(rates.len());
            }
            Ok(report)
        })
        .await
}

fn unchanged(current: &Product, p: &ValidProduct, stock: Stock) -> bool {
    current.name == p.name
        && current.description == p.description
        && current.unit_amount == p.unit_amount
        && current.currency == p.currency.as_str()
        && (stock == Stock::Keep || current.stock_on_hand == p.stock_on_hand)
        && current.stripe_price_id == p.stripe_price_id
        && current.active == p.active
        && current.shipping == p.shipping
        && current.low_stock_threshold == p.low_stock_threshold
}

/// Today's catalog as an import file (JSON), stock included: `caisse catalog export`.
pub async fn export(store: &Store) -> Result<String, StoreError> {
    let products: Vec<serde_json::Value> = store
        .all_products()
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "id": p.id, "name": p.name, "description": p.description,
                "unit_amount": p.unit_amount, "currency": p.currency,
                "stock_on_hand": p.stock_on_hand, "stripe_price_id": p.stripe_price_id,
                "active": p.active, "shipping": p.shipping,
                "low_stock_threshold": p.low_stock_threshold,
            })
        })
        .collect();
    let rates = store.shipping_rates().await?;
    Ok(
        serde_json::to_string_pretty(&json!({ "products": products, "shipping_rates": rates }))
            .unwrap_or_default(),
    )
}

/// Loads the demo catalog when the database has no product at all; true when it did.
pub async fn load_demo_if_empty(store: &Store, now: i64) -> Result<bool, ImportError> {
    if store.product_count().await? > 0 {
        return Ok(false);
    }
    let catalog = parse(DEMO_CATALOG, Format::Json)?;
    import(store, &catalog, Stock::Set, "system:dev", now).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_catalog_is_valid_and_has_the_promised_shapes() {
        let p = parse(DEMO_CATALOG, Format::Json).unwrap().products;
        assert!(p.len() >= 4);
        assert!(p.iter().any(|p| p.stock_on_hand == 1 && p.active));
        assert!(p.iter().any(|p| !p.active));
    }

    #[test]
    fn the_low_stock_threshold_reads_from_either_format_and_is_never_negative() {
        let csv = "id,name,unit_amount,currency,stock_on_hand,low_stock_threshold\nmug,Mug,1200,eur,4,2\n";
        let json = r#"[{"id":"mug","name":"Mug","unit_amount":1200,"currency":"eur","stock":4,"low_stock_threshold":2}]"#;
        let (csv, json) = (
            parse(csv, Format::Csv).unwrap(),
            parse(json, Format::Json).unwrap(),
        );
        assert_eq!(csv, json);
        assert_eq!(csv.products[0].low_stock_threshold, Some(2));
        let negative = r#"[{"id":"mug","name":"Mug","unit_amount":1200,"currency":"eur","stock":4,"low_stock_threshold":-1}]"#;
        assert!(parse(negative, Format::Json).is_err());
    }

    #[test]
    fn csv_and_json_read_the_same_product() {
        let csv = "id,name,unit_amount,currency,stock_on_hand,active\nmug,Mug,1200,EUR,4,no\n";
        let json = r#"{"products":[{"id":"mug","name":"Mug","unit_amount":1200,"currency":"eur","stock":4,"active":false}]}"#;
        assert_eq!(
            parse(csv, Format::Csv).unwrap(),
            parse(json, Format::Json).unwrap()
        );
    }

    #[test]
    fn a_csv_yes_or_no_is_one_of_the_six_words_or_refused() {
        let row = |active: &str, shipping: &str| {
            let csv = format!(
                "id,name,unit_amount,currency,stock_on_hand,active,shipping\nmug,Mug,1200,eur,4,{active},{shipping}\n"
            );
            parse(&csv, Format::Csv).map(|c| (c.products[0].active, c.products[0].shipping))
        };
        assert_eq!(row("", "").unwrap(), (true, true), "empty is the default");
        assert_eq!(row("YES", "1").unwrap(), (true, true));
        assert_eq!(row("No", "FALSE").unwrap(), (false, false));
        assert_eq!(row("0", "true").unwrap(), (false, true));
        let err = row("off", "true").unwrap_err().to_string();
        assert!(err.starts_with("row 1: `active` is `off`"), "{err}");
        let err = row("true", "nope").unwrap_err().to_string();
        assert!(err.starts_with("row 1: `shipping` is `nope`"), "{err}");
    }

    #[test]
    fn a_control_character_in_a_name_is_refused_whatever_the_database() {
        let json = |name: &str, description: &str| {
            serde_json::json!([{"id": "mug", "name": name, "description": description,
                "unit_amount": 1200, "currency": "eur", "stock": 4}])
            .to_string()
        };
        let err = parse(&json("Bad\u{0}Name", ""), Format::Json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "row 1: product `mug`: name holds a control character (U+0000)"
        );
        let err = parse(&json("Red\u{1b}[31m", ""), Format::Json).unwrap_err();
        assert!(err.to_string().contains("(U+001B)"), "{err}");
        assert!(parse(&json("Mug", "two\tcolumns\nand lines"), Format::Json).is_ok());
        let err = parse(&json("Mug", "a\u{7}bell"), Format::Json).unwrap_err();
        assert!(err.to_string().contains("description holds"), "{err}");
        for sneaky in ["a\u{2028}b", "a\u{2029}b", "\u{202e}gum", "a\u{2066}b"] {
            let err = parse(&json(sneaky, ""), Format::Json).unwrap_err();
            assert!(err.to_string().contains("name holds a control"), "{err}");
        }
        let price = |p: &str| {
            serde_json::json!([{"id": "mug", "name": "Mug", "unit_amount": 1200,
                "currency": "eur", "stock": 4, "stripe_price_id": p}])
            .to_string()
        };
        assert!(parse(&price("price_1AbC_2"), Format::Json).is_ok());
        for bad in [
            "price_a\u{0}b",
            "price_a\u{1b}[2Jb",
            "price_",
            "prod_x",
            "price_a b",
        ] {
            let err = parse(&price(bad), Format::Json).unwrap_err();
            assert!(
                err.to_string().contains("stripe_price_id must be price_"),
                "{bad}: {err}"
            );
        }
        let err = parse(
            r#"[{"id": "y\u001b[2J", "name": "Y", "unit_amount": 1, "currency": "eur", "stock": 1}]"#,
            Format::Json,
        )
        .unwrap_err();
        assert!(err.to_string().contains(r"y\u{1b}[2J"), "escaped: {err}");
        let rates = r#"{"products": [], "shipping_rates": [{"id": "std", "name": "Std\u0000", "amount": 500, "currency": "eur"}]}"#;
        let err = parse(rates, Format::Json).unwrap_err();
        assert!(err.to_string().contains("name holds a control"), "{err}");
    }

    #[test]
    fn an_unknown_column_or_top_level_key_is_refused_by_name() {
        let csv = "id,name,unit_amount,currency,stock_on_hand,price\nmug,Mug,1200,eur,4,1\n";
        let err = parse(csv, Format::Csv).unwrap_err().to_string();
        assert!(err.starts_with("unknown column `price`"), "{err}");
        let json = r#"{"products":[{"id":"mug","name":"Mug","unit_amount":1200,"currency":"eur","stock":4}],"currency":"usd"}"#;
        let err = parse(json, Format::Json).unwrap_err().to_string();
        assert!(err.starts_with("unknown top-level key `currency`"), "{err}");
        let err = parse(r#"{"product":[]}"#, Format::Json)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("unknown top-level key `product`"), "{err}");
    }

    #[test]
    fn bad_rows_name_their_row() {
        let err = parse(
            r#"[{"id":"a","name":"A","unit_amount":1,"currency":"eur","stock":1},
                            {"id":"a","name":"A","unit_amount":1,"currency":"eur","stock":1}]"#,
            Format::Json,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "row 2: product `a` appears twice");
        let err = parse(
            "id,name,unit_amount,currency,stock_on_hand\nb,B,-5,eur,1\n",
            Format::Csv,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("row 1: product `b`: unit_amount"),
            "{err}"
        );
        let err = parse(
            r#"[{"id":"a","name":"A","unit_amount":1,"currency":"eur","stock":1,"price":3}]"#,
            Format::Json,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `price`"), "{err}");
    }
}
