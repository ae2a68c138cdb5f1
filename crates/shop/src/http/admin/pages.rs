//! The dashboard's pages: what each shows, formatted for reading (times in UTC, money with its
//! currency). Every list pages by keyset; its "older" link carries the last row's key.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::app::App;
use crate::domain::money::format_amount;
use crate::store::{
    unix_now, AuditFilter, AuditRecord, EventListRow, OrderRow, OrderSearch, StripeRequestRow, PAGE,
};

use super::session::Operator;
use super::{error_page, failure, render, when, Chrome};

/// The notice a redirect after an action asks for, from a fixed list: nothing a link can make
/// the page say.
fn notice(q: &Params) -> Option<&'static str> {
    Some(match q.notice.as_deref()? {
        "refund_requested" => "Refund requested from Stripe. The order shows it once Stripe's charge.refunded event arrives.",
        "alert_acknowledged" => "Alert acknowledged.",
        "email_queued" => "The message is queued again; the outbox worker sends it now.",
        "event_reprocessed" => "The event went through the inbox again; its status is below.",
        _ => return None,
    })
}

#[derive(serde::Deserialize, Default)]
pub(super) struct Params {
    notice: Option<String>,
    q: Option<String>,
    before: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    entity_type: Option<String>,
    entity_id: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    all: Option<String>,
}

/// The link to the next page when this one had a row more than it shows.
fn next_link<T>(rows: &mut Vec<T>, link: impl Fn(&T) -> String) -> Option<String> {
    if rows.len() as i64 > PAGE {
        rows.truncate(PAGE as usize);
        rows.last().map(link)
    } else {
        None
    }
}

/// A query string value, percent-encoded.
fn enc(s: &str) -> String {
    caisse_stripe::form::percent_encode(s, caisse_stripe::form::unreserved)
}

macro_rules! chrome {
    ($app:expr, $headers:expr, $q:expr) => {
        match Operator::from_headers(&$app, &$headers).await {
            Ok(Operator { mut c, .. }) => {
                c.notice = notice(&$q);
                c
            }
            Err(answer) => return answer,
        }
    };
}

pub(super) struct Money {
    pub orders: i64,
    pub amount: String,
}

pub(super) struct Bar {
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

pub(super) async fn overview(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
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
                label: format!(
                    "{}: {}",
                    when(Some(day * 86_400)).get(..10).unwrap_or_default(),
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
        first_day: when(Some((today_day - 29) * 86_400))
            .get(..10)
            .unwrap_or_default()
            .to_string(),
        o,
    })
}

pub(super) struct OrderView {
    pub number: i64,
    pub id: String,
    pub hold_id: String,
    pub status: String,
    pub attention: String,
    pub email: String,
    pub total: String,
    pub created: String,
    pub payment_intent: String,
    pub session: String,
    pub paid: String,
    pub refunded: String,
}

impl From<&OrderRow> for OrderView {
    fn from(o: &OrderRow) -> OrderView {
        OrderView {
            number: o.number,
            id: o.id.clone(),
            hold_id: o.hold_id.clone(),
            status: o.status.clone(),
            attention: o.attention_reason.clone().unwrap_or_default(),
            email: o.email.clone().unwrap_or_else(|| "—".into()),
            total: format_amount(o.amount_total, &o.currency),
            created: when(Some(o.created_at)),
            payment_intent: o.payment_intent_id.clone().unwrap_or_else(|| "—".into()),
            session: o.checkout_session_id.clone().unwrap_or_else(|| "—".into()),
            paid: o
                .amount_paid
                .map(|a| format_amount(a, &o.currency))
                .unwrap_or_else(|| "—".into()),
            refunded: format_amount(o.amount_refunded.unwrap_or(0), &o.currency),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
struct OrdersPage {
    c: Chrome,
    q: String,
    rows: Vec<OrderView>,
    next: Option<String>,
}

pub(super) async fn orders(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let text = q.q.clone().unwrap_or_default();
    let before = q.before.as_deref().and_then(|b| b.parse().ok());
    let mut rows = match app
        .store
        .orders_page(&OrderSearch::parse(&text), before)
        .await
    {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |o| {
        format!("/admin/orders?q={}&before={}", enc(&text), o.number)
    });
    render(&OrdersPage {
        c,
        rows: rows.iter().map(OrderView::from).collect(),
        q: text,
        next,
    })
}

pub(super) struct ItemView {
    pub name: String,
    pub product_id: String,
    pub quantity: i64,
    pub unit: String,
    pub total: String,
}

pub(super) struct EventView {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub created: String,
    pub received: String,
    pub note: String,
}

impl From<&EventListRow> for EventView {
    fn from(e: &EventListRow) -> EventView {
        EventView {
            id: e.stripe_event_id.clone(),
            kind: e.kind.clone(),
            status: e.status.clone(),
            attempts: e.attempts,
            created: when(Some(e.stripe_created)),
            received: when(Some(e.received_at)),
            note: e
                .last_error
                .clone()
                .filter(|_| e.status == "failed")
                .or_else(|| e.reason.clone())
                .unwrap_or_default(),
        }
    }
}

pub(super) struct RequestView {
    pub at: String,
    pub method: String,
    pub path: String,
    pub status: String,
    pub duration_ms: i64,
    pub key: String,
    pub request_id: String,
    pub error: String,
}

impl From<&StripeRequestRow> for RequestView {
    fn from(r: &StripeRequestRow) -> RequestView {
        RequestView {
            at: when(Some(r.at)),
            method: r.method.clone(),
            path: r.path.clone(),
            status: r
                .status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "—".into()),
            duration_ms: r.duration_ms,
            key: r.idempotency_key.clone().unwrap_or_default(),
            request_id: r.request_id.clone().unwrap_or_default(),
            error: r.error.clone().unwrap_or_default(),
        }
    }
}

pub(super) struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub message: String,
}

impl From<&AuditRecord> for AuditView {
    fn from(a: &AuditRecord) -> AuditView {
        AuditView {
            at: when(Some(a.at)),
            actor: a.actor.clone(),
            action: a.action.clone(),
            entity_type: a.entity_type.clone(),
            entity_id: a.entity_id.clone(),
            message: a.message.clone(),
        }
    }
}

pub(super) struct MessageView {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "admin/order.html")]
struct OrderPage {
    c: Chrome,
    o: OrderView,
    items: Vec<ItemView>,
    events: Vec<EventView>,
    requests: Vec<RequestView>,
    audit: Vec<AuditView>,
    emails: Vec<MessageView>,
    can_refund: bool,
    refundable: String,
    currency: String,
    refund_token: String,
}

pub(super) async fn order(
    State(app): State<App>,
    headers: HeaderMap,
    Path(number): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let found = match number.trim_start_matches('#').parse::<i64>() {
        Ok(n) => app.store.order_by_number(n).await,
        Err(_) => Ok(None),
    };
    let row = match found {
        Ok(Some(o)) => o,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, c, "No such order.", "/admin/orders"),
        Err(e) => return failure(&e.to_string()),
    };
    let store = &app.store;
    let (lines, events, requests, audit, emails) = match tokio::try_join!(
        store.order_lines(&row.id),
        store.events_for(&row.id, &row.hold_id),
        store.stripe_requests_for(&row.hold_id, &row.id),
        store.audit_for(&row.id, &row.hold_id),
        store.outbox_for(&row.id),
    ) {
        Ok(all) => all,
        Err(e) => return failure(&e.to_string()),
    };
    let left = row.amount_paid.unwrap_or(0) - row.amount_refunded.unwrap_or(0);
    render(&OrderPage {
        c,
        items: lines
            .iter()
            .map(|l| ItemView {
                name: l.name.clone(),
                product_id: l.product_id.clone(),
                quantity: l.quantity,
                unit: format_amount(l.unit_amount, &row.currency),
                total: format_amount(l.unit_amount * l.quantity, &row.currency),
            })
            .collect(),
        events: events.iter().map(EventView::from).collect(),
        requests: requests.iter().map(RequestView::from).collect(),
        audit: audit.iter().map(AuditView::from).collect(),
        emails: emails
            .iter()
            .map(|m| MessageView {
                id: m.id,
                kind: m.kind.clone(),
                status: m.status.clone(),
                attempts: m.attempts,
                last_error: m.last_error.clone().unwrap_or_default(),
            })
            .collect(),
        can_refund: row.payment_intent_id.is_some() && left > 0,
        refundable: format_amount(left, &row.currency),
        currency: row.currency.to_ascii_uppercase(),
        refund_token: crate::admin::random_token(),
        o: OrderView::from(&row),
    })
}

pub(super) struct HoldView {
    pub id: String,
    pub created: String,
    pub status: String,
    pub customer: String,
    pub total: String,
    pub expires: String,
    pub session: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "admin/holds.html")]
struct HoldsPage {
    c: Chrome,
    statuses: Vec<(&'static str, &'static str, bool)>,
    rows: Vec<HoldView>,
    next: Option<String>,
}

pub(super) async fn holds(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let statuses = [
        ("", "All"),
        ("active", "Active"),
        ("awaiting_payment", "Awaiting payment"),
        ("converted", "Converted"),
        ("released", "Released"),
    ];
    let status = q
        .status
        .clone()
        .filter(|s| statuses.iter().any(|(v, _)| v == s))
        .unwrap_or_default();
    let filter = (!status.is_empty()).then_some(status.as_str());
    let mut rows = match app.store.holds_page(filter, q.before.as_deref()).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |h| {
        format!("/admin/holds?status={}&before={}", enc(&status), enc(&h.id))
    });
    render(&HoldsPage {
        c,
        rows: rows
            .iter()
            .map(|h| HoldView {
                id: h.id.clone(),
                created: when(Some(h.created_at)),
                status: h.status.clone(),
                customer: h.customer_id.clone(),
                total: format_amount(h.amount_total, &h.currency),
                expires: when(Some(h.expires_at)),
                session: h.checkout_session_id.clone().unwrap_or_default(),
                reason: h.release_reason.clone().unwrap_or_default(),
            })
            .collect(),
        statuses: statuses
            .iter()
            .map(|(v, l)| (*v, *l, *v == status))
            .collect(),
        next,
    })
}

#[derive(Template)]
#[template(path = "admin/events.html")]
struct EventsPage {
    c: Chrome,
    status: String,
    statuses: Vec<&'static str>,
    kind: String,
    rows: Vec<EventView>,
    next: Option<String>,
}

pub(super) async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let statuses = vec!["", "received", "processed", "ignored", "failed"];
    let status = q
        .status
        .clone()
        .filter(|s| statuses.contains(&s.as_str()))
        .unwrap_or_default();
    let kind = q.kind.clone().unwrap_or_default().trim().to_string();
    // The cursor is `received_at.evt_id`.
    let before = q
        .before
        .as_deref()
        .and_then(|b| b.split_once('.'))
        .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id)));
    let mut rows = match app
        .store
        .events_page(
            (!status.is_empty()).then_some(status.as_str()),
            (!kind.is_empty()).then_some(kind.as_str()),
            before,
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |e| {
        format!(
            "/admin/events?status={}&type={}&before={}.{}",
            enc(&status),
            enc(&kind),
            e.received_at,
            enc(&e.stripe_event_id)
        )
    });
    render(&EventsPage {
        c,
        rows: rows.iter().map(EventView::from).collect(),
        status,
        statuses,
        kind,
        next,
    })
}

#[derive(Template)]
#[template(path = "admin/event.html")]
struct EventPage {
    c: Chrome,
    e: EventView,
    source: String,
    processed: String,
    mode: &'static str,
    api_version: String,
    payload: String,
}

pub(super) async fn event(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let d = match app.store.event_detail(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return error_page(StatusCode::NOT_FOUND, c, "No such event.", "/admin/events"),
        Err(e) => return failure(&e.to_string()),
    };
    // Pretty-printed when it parses; as received otherwise.
    let payload = serde_json::from_str::<serde_json::Value>(&d.payload)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| d.payload.clone());
    render(&EventPage {
        c,
        e: EventView::from(&d.row),
        source: d.row.source.clone(),
        processed: when(d.row.processed_at),
        mode: if d.livemode { "live" } else { "test" },
        api_version: d.api_version.clone().unwrap_or_default(),
        payload,
    })
}

#[derive(Template)]
#[template(path = "admin/stripe_requests.html")]
struct RequestsPage {
    c: Chrome,
    requests: Vec<RequestView>,
    next: Option<String>,
}

pub(super) async fn stripe_requests(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let before = q.before.as_deref().and_then(|b| b.parse().ok());
    let mut rows = match app.store.stripe_requests_page(before).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |r| {
        format!("/admin/stripe-requests?before={}", r.id)
    });
    render(&RequestsPage {
        c,
        requests: rows.iter().map(RequestView::from).collect(),
        next,
    })
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    f: AuditFilter,
    from: String,
    to: String,
    audit: Vec<AuditView>,
    next: Option<String>,
}

/// Unix seconds of a `YYYY-MM-DD` day's start (UTC); 0 for anything else.
fn day_start(text: &str) -> i64 {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), format)
        .map(|d| d.midnight().assume_utc().unix_timestamp())
        .unwrap_or(0)
}

pub(super) async fn audit(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let text = |v: &Option<String>| v.clone().unwrap_or_default().trim().to_string();
    let (from, to) = (text(&q.from), text(&q.to));
    let f = AuditFilter {
        entity_type: text(&q.entity_type),
        entity_id: text(&q.entity_id),
        actor: text(&q.actor),
        from: day_start(&from),
        // "To" names the last day shown, included.
        to: match day_start(&to) {
            0 => 0,
            t => t + 86_400,
        },
    };
    let before = q.before.as_deref().and_then(|b| b.parse().ok());
    let mut rows = match app.store.audit_page(&f, before).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |a| {
        format!(
            "/admin/audit?entity_type={}&entity_id={}&actor={}&from={}&to={}&before={}",
            enc(&f.entity_type),
            enc(&f.entity_id),
            enc(&f.actor),
            enc(&from),
            enc(&to),
            a.id
        )
    });
    render(&AuditPage {
        c,
        audit: rows.iter().map(AuditView::from).collect(),
        f,
        from,
        to,
        next,
    })
}

pub(super) struct AlertView {
    pub id: i64,
    pub created: String,
    pub severity: String,
    pub kind: String,
    pub message: String,
    pub entity: String,
    pub acknowledged: String,
}

#[derive(Template)]
#[template(path = "admin/alerts.html")]
struct AlertsPage {
    c: Chrome,
    all: bool,
    rows: Vec<AlertView>,
    next: Option<String>,
}

pub(super) async fn alerts(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Params>,
) -> Response {
    let c = chrome!(app, headers, q);
    let all = q.all.as_deref() == Some("1");
    let before = q.before.as_deref().and_then(|b| b.parse().ok());
    let mut rows = match app.store.alerts_page(!all, before).await {
        Ok(r) => r,
        Err(e) => return failure(&e.to_string()),
    };
    let next = next_link(&mut rows, |a| {
        format!("/admin/alerts?all={}&before={}", u8::from(all), a.id)
    });
    render(&AlertsPage {
        c,
        all,
        rows: rows
            .iter()
            .map(|a| AlertView {
                id: a.id,
                created: when(Some(a.created_at)),
                severity: a.severity.clone(),
                kind: a.kind.clone(),
                message: a.message.clone(),
                entity: match (&a.entity_type, &a.entity_id) {
                    (Some(t), Some(id)) => format!("{t} {id}"),
                    _ => String::new(),
                },
                acknowledged: match a.acknowledged_at {
                    Some(t) => format!(
                        "acknowledged by {} at {}",
                        a.acknowledged_by.as_deref().unwrap_or("?"),
                        when(Some(t))
                    ),
                    None => String::new(),
                },
            })
            .collect(),
        next,
    })
}
