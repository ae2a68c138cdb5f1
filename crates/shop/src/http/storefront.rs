//! The demo storefront at `/` (always in `caisse dev`, with `CAISSE_STOREFRONT=true` in `serve`):
//! three static files compiled into the binary. It calls the public API only, so it is also the
//! reference for a shop writing its own.

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::app::App;

pub fn routes(app: &App) -> Router<App> {
    if !app.config.storefront {
        return Router::new();
    }
    Router::new()
        .route("/", get(index))
        .route(
            "/assets/storefront.js",
            get(|| async {
                super::asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../static/storefront/storefront.js"),
                )
            }),
        )
        .route(
            "/assets/storefront.css",
            get(|| async {
                super::asset(
                    "text/css; charset=utf-8",
                    include_str!("../../static/storefront/storefront.css"),
                )
            }),
        )
}

async fn index() -> Response {
    let mut response = super::asset(
        "text/html; charset=utf-8",
        include_str!("../../static/storefront/index.html"),
    );
    let h = response.headers_mut();
    // The page names the assets; it must be fresh so that a new binary's assets are used.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::PAGE_CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}
