//! `GET /admin/orders.csv`: the orders export of [`crate::orders::export`] for a signed-in
//! operator, with the same filters as `caisse orders export` (`from`, `to`: a day or an RFC 3339
//! time; `status`; `fulfilment`), streamed: a task writes chunks into a small bounded channel
//! that the response body drains, so a slow download holds a few chunks, never the whole file.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::tz::TimeZone;

use crate::app::App;
use crate::orders::export::{self, export, Asked};
use crate::store::ExportFilter;

use super::session::Operator;
use super::{error_page, Chrome};

#[derive(serde::Deserialize)]
pub(super) struct Params {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    fulfilment: Option<String>,
}

/// The filter the parameters ask for, or why not (the orders page says the same).
fn filter(p: &Params, zone: &TimeZone) -> Result<ExportFilter, String> {
    let asked = Asked {
        from: p.from.as_deref(),
        to: p.to.as_deref(),
        status: p.status.as_deref(),
        fulfilment: p.fulfilment.as_deref(),
    };
    export::filter(asked, zone).map_err(|(_, why)| why)
}

/// The answer to a filter that cannot be: in words, back to the orders.
pub(super) fn refused(c: Chrome, why: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, c, why, "/admin/orders")
}

pub(super) async fn orders_csv(
    State(app): State<App>,
    Operator { c, .. }: Operator,
    Query(params): Query<Params>,
) -> Response {
    let filter = match filter(&params, &app.config.time_zone) {
        Ok(f) => f,
        Err(why) => return refused(c, &why),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let store = app.store.clone();
    tokio::spawn(async move {
        let sender = tx.clone();
        let result = export(&store, &filter, move |chunk| {
            let tx = sender.clone();
            async move { tx.send(Ok(Bytes::from(chunk))).await.is_ok() }
        })
        .await;
        if let Err(e) = result {
            // The status line is gone already: the client sees a truncated download.
            tracing::warn!(error = %e, "the orders export failed midway");
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
