//! The overview `/admin`: orders and revenue today and over 30 days with a per-day chart, open
//! holds, alerts to look at, webhook failures and lag, the email queue.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::tz::TimeZone;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::http::admin::{failure, render, Chrome};
use crate::store::unix_now;

use super::{when, PageRequest};

struct Money {
    pub orders: i64,
    pub amount: String,
}

struct Bar {
    pub x: i64,
    pub y: i64,
    pub h: i64,
    pub label: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    c: Chrome,
    o: crate::store::Overview,
    today: Vec<Money>,
    month: Vec<Money>,
    lag: String,
    last_event: String,
    oldest_email: String,
    chart_currency: String,
    chart_width: i64,
    bars: Vec<Bar>,
    first_day: String,
}

pub(in super::super) async fn page(
    State(app): State<App>,
    PageRequest { c, .. }: PageRequest,
) -> Response {
    let now = unix_now();
    let o = match app.store.overview(now).await {
        Ok(o) => o,
        Err(e) => return failure(&e.to_string()),
    };
    let money = |r: &Vec<crate::store::Revenue>| {
        r.iter()
            .map(|r| Money {
                orders: r.orders,
                amount: format_amount(r.amount, &r.currency),
            })
            .collect()
    };
    // One currency per chart: the one that took the most over the month.
    let currency = o
        .month
        .iter()
        .max_by_key(|r| r.amount)
        .map(|r| r.currency.clone())
        .unwrap_or_else(|| "eur".into());
    let today_day = now.div_euclid(86_400);
    let per_day: Vec<(i64, i64)> = (0..30)
        .map(|i| {
            let day = today_day - 29 + i;
            let amount = o
                .days
                .iter()
                .find(|d| d.day == day && d.currency == currency)
                .map(|d| d.amount)
                .unwrap_or(0);
            (day, amount)
        })
        .collect();
    let top = per_day.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let bars = per_day
        .iter()
        .enumerate()
        .map(|(i, (day, amount))| {
            let h = (amount * 110 / top).max(if *amount > 0 { 1 } else { 0 });
            Bar {
                x: i as i64 * 20 + 2,
                y: 120 - h,
                h,
                // The store sums the chart by UTC day, so its days are labelled as UTC dates.
                label: format!(
                    "{}: {}",
                    when(&TimeZone::UTC, Some(day * 86_400))
                        .get(..10)
                        .unwrap_or_default(),
                    format_amount(*amount, &currency)
                ),
            }
        })
        .collect();
    let ago = |t: Option<i64>| match t {
        Some(t) => format!("{} s ago", (now - t).max(0)),
        None => "—".into(),
    };
    render(&OverviewPage {
        c,
        today: money(&o.today),
        month: money(&o.month),
        lag: o
            .webhook_lag_max
            .map(|s| format!("{s} s"))
            .unwrap_or_else(|| "—".into()),
        last_event: ago(o.last_event_at),
        oldest_email: ago(o.oldest_pending_email),
        chart_currency: currency.to_ascii_uppercase(),
        chart_width: 600,
        bars,
        first_day: when(&TimeZone::UTC, Some((today_day - 29) * 86_400))
            .get(..10)
            .unwrap_or_default()
            .to_string(),
        o,
    })
}
