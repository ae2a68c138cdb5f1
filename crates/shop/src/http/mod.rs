//! The HTTP surface: the router, the layers every request goes through (request id, tracing,
//! metrics, failures and panics, body limit, time limit), JSON fallbacks, and a server with
//! graceful shutdown.

mod admin;
mod api;
mod caller;
mod checkout;
pub mod connections;
mod cookies;
mod failures;
mod fd_limit;
mod health;
mod json;
mod openapi;
mod storefront;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::error::ApiError;

pub use json::ApiJson;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application as one router.
pub fn router(app: App) -> Router {
    // In serve, metrics live on their own listener only: what they tell is for operators.
    let metrics = if app.config.mode == crate::config::Mode::Serve {
        Router::new()
    } else {
        health::metrics_routes()
    };
    let routes = Router::new()
        .merge(public().router)
        .merge(admin::routes(&app))
        .merge(storefront::routes(&app))
        .merge(metrics)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
            )
        });
    layered(app, routes)
}

/// `routes` inside the layers every request of the public listener goes through: request id,
/// trace, security headers, the `internal_error` alert, metrics, an answer for a panic, the time
/// limit, CORS for the API and the body limit.
pub fn layered(app: App, routes: Router<App>) -> Router {
    // Webhooks read their body themselves, up to CAISSE_MAX_BODY_BYTES; every other body (forms)
    // is held to the small limit.
    let body_limit = json::small_body_limit(app.config.max_body_bytes);
    routes
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            cors(&app.config.cors_origins),
            api_cors,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), time_limit))
        .layer(middleware::from_fn(failures::answer_panics))
        .layer(middleware::from_fn(record_metrics))
        .layer(middleware::from_fn_with_state(
            app.clone(),
            failures::alert_internal_failures,
        ))
        .layer(middleware::from_fn_with_state(app.clone(), security_headers))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The path only: a query string could carry something a log should not keep.
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn(sanitize_request_id))
        .with_state(app)
}

/// The public API: what `GET /api/openapi.json` describes.
fn public() -> PublicRoutes {
    let r = PublicRoutes {
        router: Router::new(),
        table: Vec::new(),
    };
    let r = api::routes(r);
    let r = checkout::routes(r);
    let r = health::routes(r);
    let r = webhooks::routes(r);
    openapi::routes(r)
}

/// Every `(METHOD, path)` of the public API, in the router's own path syntax (which is
/// OpenAPI's), read off the same builder that makes the router: the list the OpenAPI document
/// is checked against.
pub fn public_routes() -> Vec<(&'static str, &'static str)> {
    let mut table = public().table;
    table.sort();
    table
}

/// A router that records each route it is given, so that the public API's list cannot drift
/// from what is served.
pub(crate) struct PublicRoutes {
    router: Router<App>,
    table: Vec<(&'static str, &'static str)>,
}

impl PublicRoutes {
    fn add<H, T>(
        mut self,
        method: &'static str,
        filter: MethodFilter,
        path: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, App>,
        T: 'static,
    {
        self.table.push((method, path));
        self.router = self.router.route(path, on(filter, handler));
        self
    }

    pub(crate) fn get<H: Handler<T, App>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Self {
        self.add("GET", MethodFilter::GET, path, handler)
    }

    pub(crate) fn post<H: Handler<T, App>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Self {
        self.add("POST", MethodFilter::POST, path, handler)
    }
}

/// The Content-Security-Policy of caisse's own pages: nothing from another origin, no inline
/// script or style.
pub(crate) const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Whether caisse is reached over https (its public URL says so): then cookies are `Secure` and
/// answers carry HSTS.
pub(crate) fn over_https(app: &App) -> bool {
    app.config.public_url.starts_with("https://")
}

/// A static file compiled into the binary.
pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Lets the configured storefront origins call the API from a browser, cookies included (the
/// guest identity); no origin at all when none is configured.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            REQUEST_ID,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
        ])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
}

/// CORS for the public API only (`/api/…`, preflights included): a storefront origin allowed to
/// call the API must never read the dashboard, nor have a preflight of its forms answered.
async fn api_cors(State(cors): State<CorsLayer>, req: Request, next: Next) -> Response {
    use tower::{Layer, ServiceExt};
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let mut next = Some(next);
    let inner = tower::service_fn(move |req: Request| {
        let next = next.take();
        async move {
            Ok::<Response, std::convert::Infallible>(match next {
                Some(next) => next.run(req).await,
                None => ApiError::internal().into_response(),
            })
        }
    });
    match cors.layer(inner).oneshot(req).await {
        Ok(response) => response.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

/// Keeps a client's `X-Request-Id` only when it is `[A-Za-z0-9._-]{1,64}`; anything else is
/// replaced by a fresh one, so that no client can write what it likes into the logs.
async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let valid = |v: &HeaderValue| {
        let b = v.as_bytes();
        (1..=64).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    };
    if req.headers().get(&REQUEST_ID).is_some_and(|v| !valid(v)) {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// Ends a request that runs past the configured limit with a JSON 503 instead of hanging.
async fn time_limit(State(app): State<App>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(app.config.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; try again",
        )
        .into_response(),
    }
}

/// Headers every answer carries: no content sniffing; no caching of API answers (they carry
/// payment URLs and personal data); HSTS when caisse is reached over https.
async fn security_headers(State(app): State<App>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if over_https(&app) {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// A request's method from a closed set (what a label or an alert may carry).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

async fn record_metrics(req: Request, next: Next) -> Response {
    // Labels from closed sets only: the route template (never the raw path) and a known method.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("caisse_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("caisse_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A server running in the background: its address and a handle to stop it.
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish, then returns.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.join
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then drains requests in flight.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let c = &app.config;
    let soft = fd_limit::raise_to_hard();
    let max_connections = fd_limit::connections_within(c.max_connections, soft);
    if max_connections < c.max_connections {
        tracing::warn!(
            configured = c.max_connections,
            file_descriptor_limit = soft,
            lowered_to = max_connections,
            "CAISSE_MAX_CONNECTIONS is more than the file-descriptor limit holds; lowered"
        );
    }
    let limits = connections::Limits {
        header_read: c.header_read_timeout,
        idle: c.idle_timeout,
        max_connections,
        max_per_client: c.max_connections_per_ip,
        exempt: c.identity.trusted_proxies.clone().into(),
    };
    connections::serve(router(app), listener, limits, shutdown).await
}

/// Binds `addr` (port 0 for a free one) and serves in the background.
pub async fn spawn(app: App, addr: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let join = tokio::spawn(serve(app, listener, async {
        let _ = stopped.await;
    }));
    Ok(RunningServer { addr, stop, join })
}

/// The operators' listener: `/metrics` only, with `nosniff` like every answer.
pub fn metrics_router(app: App) -> Router {
    health::metrics_routes()
        .layer(middleware::from_fn_with_state(
            app.clone(),
            security_headers,
        ))
        .with_state(app)
}

/// Serves [`metrics_router`] on `addr` in the background.
pub async fn spawn_metrics(app: App, addr: SocketAddr) -> std::io::Result<RunningServer> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    // The same guards as the public listener, and few connections: a scraper needs one.
    let limits = connections::Limits {
        header_read: app.config.header_read_timeout,
        idle: app.config.idle_timeout,
        max_connections: 64,
        max_per_client: 64,
        exempt: Arc::from([]),
    };
    let join = tokio::spawn(connections::serve(
        metrics_router(app),
        listener,
        limits,
        async {
            let _ = stopped.await;
        },
    ));
    Ok(RunningServer { addr, stop, join })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
