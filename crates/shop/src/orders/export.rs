//! Orders out, for accounting: CSV with the columns `number, created_at, status, fulfilment,
//! email, name, phone, shipping_line1, shipping_line2, shipping_postal_code, shipping_city,
//! shipping_country, items, subtotal, shipping, total, refunded, currency, payment_intent,
//! dispute` (`open`, `won`, `lost` or empty) —
//! `created_at` in ISO 8601 UTC, `items` as `id×quantity; …`, amounts in major units with a dot
//! (three decimals for three-decimal currencies). Every cell is quoted: a spreadsheet that splits
//! on `;` (Excel in French and other locales) would otherwise read `x;=1+1` typed by a customer as
//! a cell `=1+1`, past the leading-`'` guard of [`typed`]. UTF-8, no byte-order mark.
//! Filters by date take the shop's days
//! (`CAISSE_TIME_ZONE`). Rows are read as a stream and written in
//! chunks of [`CHUNK_ROWS`], so memory stays bounded whatever the number of orders
//! (`caisse orders export` and `GET /admin/orders.csv` share this).

use futures_util::StreamExt;
use jiff::tz::TimeZone;

use crate::domain::local_time::day_bounds;
use crate::domain::money::major_units;
use crate::domain::status::{FulfilmentStatus, OrderStatus};
use crate::store::{ExportFilter, ExportRow, Store, StoreError};

pub const COLUMNS: [&str; 20] = [
    "number",
    "created_at",
    "status",
    "fulfilment",
    "email",
    "name",
    "phone",
    "shipping_line1",
    "shipping_line2",
    "shipping_postal_code",
    "shipping_city",
    "shipping_country",
    "items",
    "subtotal",
    "shipping",
    "total",
    "refunded",
    "currency",
    "payment_intent",
    "dispute",
];

/// Rows written per chunk handed to the sink.
pub const CHUNK_ROWS: usize = 500;

fn iso(unix: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_default()
}

/// What a customer typed (name, phone, address, email), made inert for spreadsheets: a cell that
/// starts like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`,
/// as OWASP advises against CSV injection, so `=HYPERLINK(…)` typed on Stripe's page is shown,
/// never run, by the accountant's spreadsheet. (A phone `+33…` reads `'+33…`.)
///
/// A cell may also begin inside the text, where a reader splits it: after a `;` (Excel in French
/// and other locales splits on it, quotes or not, for some readers), a `,`, a tab or a line
/// break. What follows such a separator (and spaces) gets the same `'` when it starts like a
/// formula: `x;=1+1` reads `x;'=1+1`.
fn typed(v: Option<String>) -> String {
    const FORMULA: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
    let separator = |c: char| {
        matches!(
            c,
            ';' | ',' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
        )
    };
    // What a reader may drop before a cell's first character: spaces of any width, invisible
    // characters, and a quote (`;"=1` is an empty quoted part, then `=1`, to a lenient reader).
    let skipped = |c: char| {
        c.is_whitespace()
            || c == '"'
            || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
    };
    let v = v.unwrap_or_default();
    let mut out = String::with_capacity(v.len() + 2);
    // At the start of a cell, as a reader may cut it: the text's start, or past a separator.
    let mut cell_start = true;
    for c in v.chars() {
        if cell_start && FORMULA.contains(&c) {
            out.push('\'');
            cell_start = separator(c);
        } else if separator(c) {
            cell_start = true;
        } else if !skipped(c) {
            cell_start = false;
        }
        out.push(c);
    }
    out
}

fn record(r: ExportRow) -> [String; 20] {
    let money = |a: i64| major_units(a, &r.currency);
    let text = |v: Option<String>| v.unwrap_or_default();
    [
        r.number.to_string(),
        iso(r.created_at),
        r.status.to_string(),
        r.fulfilment.to_string(),
        typed(r.email),
        typed(r.customer_name),
        typed(r.phone),
        typed(r.shipping_line1),
        typed(r.shipping_line2),
        typed(r.shipping_postal_code),
        typed(r.shipping_city),
        // A country comes from Stripe's list, but a forged event's could be anything.
        typed(r.shipping_country),
        text(r.items),
        money(
            r.amount_subtotal
                .unwrap_or(r.amount_total - r.amount_shipping),
        ),
        money(r.amount_shipping),
        money(r.amount_total),
        money(r.refunded),
        r.currency.to_ascii_uppercase(),
        text(r.payment_intent_id),
        r.dispute.map(|d| d.to_string()).unwrap_or_default(),
    ]
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .from_writer(Vec::with_capacity(64 * 1024))
}

fn take(w: csv::Writer<Vec<u8>>) -> Vec<u8> {
    w.into_inner().unwrap_or_default()
}

/// Writes the header and every selected order as CSV, handing `sink` one chunk at a time; stops
/// early when `sink` says so (a client that went away). Returns the number of orders written.
pub async fn export<F>(
    store: &Store,
    filter: &ExportFilter,
    mut sink: impl FnMut(Vec<u8>) -> F,
) -> Result<u64, StoreError>
where
    F: std::future::Future<Output = bool>,
{
    let mut w = writer();
    let csv_error = |e: csv::Error| StoreError::Database {
        message: format!("CSV: {e}"),
    };
    w.write_record(COLUMNS).map_err(csv_error)?;
    let mut rows = store.export_orders(filter);
    let (mut written, mut in_chunk) = (0u64, 0usize);
    while let Some(row) = rows.next().await {
        w.write_record(record(row?)).map_err(csv_error)?;
        written += 1;
        in_chunk += 1;
        if in_chunk == CHUNK_ROWS {
            if !sink(take(std::mem::replace(&mut w, writer()))).await {
                return Ok(written);
            }
            in_chunk = 0;
        }
    }
    sink(take(w)).await;
    Ok(written)
}

/// What an operator typed to choose the orders (the dashboard's list and export, `caisse orders
/// export`), each part optional.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asked<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub status: Option<&'a str>,
    pub fulfilment: Option<&'a str>,
}

/// The filter `asked` means, days in `zone`; or the part that is wrong (`from`, `to`, `status`,
/// `fulfilment`) and why, in words. A first day after the last is wrong too: it would select
/// nothing, and an empty export that says nothing is a wrong one.
pub fn filter<'a>(
    asked: Asked<'a>,
    zone: &TimeZone,
) -> Result<ExportFilter, (&'static str, String)> {
    let given = |v: Option<&'a str>| v.map(str::trim).filter(|v| !v.is_empty());
    let from = given(asked.from)
        .map(|d| parse_date(d, false, zone))
        .transpose()
        .map_err(|e| ("from", e))?;
    let to = given(asked.to)
        .map(|d| parse_date(d, true, zone))
        .transpose()
        .map_err(|e| ("to", e))?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err((
                "to",
                format!(
                    "`{}` is not after `{}`: no order can be in between",
                    given(asked.to).unwrap_or_default(),
                    given(asked.from).unwrap_or_default()
                ),
            ));
        }
    }
    let names = |all: &[&str]| all.join(", ");
    let status = given(asked.status)
        .map(|s| {
            s.parse::<OrderStatus>().map_err(|_| {
                let all: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
                ("status", format!("no order status `{s}` ({})", names(&all)))
            })
        })
        .transpose()?;
    let fulfilment = given(asked.fulfilment)
        .map(|s| {
            s.parse::<FulfilmentStatus>().map_err(|_| {
                let all: Vec<&str> = FulfilmentStatus::ALL.iter().map(|s| s.as_str()).collect();
                (
                    "fulfilment",
                    format!("no fulfilment status `{s}` ({})", names(&all)),
                )
            })
        })
        .transpose()?;
    Ok(ExportFilter {
        from,
        to,
        status,
        fulfilment,
    })
}

/// `2026-11-20`, a day of the shop's time zone (its start, or with `end` the next day's start,
/// so that `--to` includes its day), or an RFC 3339 time, as unix seconds.
pub fn parse_date(text: &str, end: bool, zone: &TimeZone) -> Result<i64, String> {
    let text = text.trim();
    if let Some((start, next)) = day_bounds(text, zone) {
        return Ok(if end { next } else { start });
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| format!("`{text}` is not a date (2026-11-20) or an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_customer_typed_cannot_be_a_formula() {
        for (typed_in, cell) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
            ("-1+2", "'-1+2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t'=1"),
            ("x;=1+1;y", "x;'=1+1;y"),
            ("a, -b", "a, '-b"),
            ("line\n@cmd", "line\n'@cmd"),
            ("a;b;c", "a;b;c"),
            ("Rue du 8-Mai", "Rue du 8-Mai"),
            ("x;\"=1+1;y", "x;\"'=1+1;y"),
            ("x; \"\" -2", "x; \"\" '-2"),
            ("x;\u{a0}=1", "x;\u{a0}'=1"),
            ("\u{feff}=1", "\u{feff}'=1"),
            ("a\u{2028}@b", "a\u{2028}'@b"),
            ("Ada Lovelace", "Ada Lovelace"),
            ("12 rue de la Paix", "12 rue de la Paix"),
        ] {
            assert_eq!(typed(Some(typed_in.into())), cell);
        }
        assert_eq!(typed(None), "");
    }

    #[test]
    fn dates_are_days_or_times_and_to_includes_its_day() {
        let utc = &TimeZone::UTC;
        assert_eq!(parse_date("2026-11-20", false, utc), Ok(1_795_132_800));
        assert_eq!(
            parse_date("2026-11-20", true, utc),
            Ok(1_795_132_800 + 86_400)
        );
        assert_eq!(
            parse_date("2026-11-20T01:00:00Z", true, utc),
            Ok(1_795_136_400)
        );
        assert!(parse_date("yesterday", false, utc).is_err());
        // A day of a shop in Paris starts at 23:00 UTC the day before, in winter.
        let paris = &crate::domain::local_time::zone("Europe/Paris").unwrap();
        assert_eq!(
            parse_date("2026-11-20", false, paris),
            Ok(1_795_132_800 - 3600)
        );
        assert_eq!(iso(1_795_136_400), "2026-11-20T01:00:00Z");
    }
}
