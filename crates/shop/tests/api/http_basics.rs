//! The HTTP skeleton through a real server: catalog, config, probes, metrics, JSON errors.

use crate::support::{raw, TestApp, PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET};

#[tokio::test]
async fn products_lists_active_products_with_availability() {
    let app = TestApp::spawn().await;
    raw(
        &app.store,
        "UPDATE products SET stock_reserved = 15 WHERE id = 'tee-classic'",
    )
    .await
    .unwrap();
    let (status, body) = app.get_json("/api/products").await;
    assert_eq!(status, 200);
    let products = body["products"].as_array().unwrap();
    let tee = products.iter().find(|p| p["id"] == "tee-classic").unwrap();
    assert_eq!(tee["available"], 35);
    assert_eq!(tee["unit_amount"], 2500);
    assert_eq!(tee["currency"], "eur");
    assert!(
        products.iter().all(|p| p["id"] != "cap-retired"),
        "inactive products are hidden"
    );
    app.stop().await;
}

#[tokio::test]
async fn config_serves_the_publishable_key_and_no_secret() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/api/config")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains(PUBLISHABLE_KEY));
    assert!(!text.contains(SECRET_KEY) && !text.contains(WEBHOOK_SECRET));
    app.stop().await;
}

#[tokio::test]
async fn probes_and_metrics_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get_json("/healthz").await.0, 200);
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    let metrics = app.metrics_text().await;
    assert!(metrics.contains("caisse_http_requests_total"), "{metrics}");
    // Not on the public listener in serve.
    let (status, body) = app.get_json("/metrics").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

#[tokio::test]
async fn invented_methods_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        app.http
            .request(method, app.url(&format!("/api/x{i}")))
            .send()
            .await
            .unwrap();
    }
    let metrics = app.metrics_text().await;
    assert!(!metrics.contains("INVENTED"), "methods are a closed set");
    assert!(
        !metrics.contains("/api/x1"),
        "routes are templates, never raw paths"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn answers_carry_the_hygiene_headers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_setting(caisse_shop::config::PUBLIC_URL, "https://shop.example").await;
    let r = app.http.get(app.url("/api/products")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers().get("cache-control").is_none());
    // A body broken on the wire (a bad chunk) is a 400, not a 413.
    let mut stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"POST /api/webhooks/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.store.close().await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "not_ready");
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors_and_a_request_id() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/api/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().get("x-request-id").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let r = app
        .http
        .delete(app.url("/api/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");

    let r = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "req-from-proxy")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-from-proxy");
    // One that could forge log lines (or is merely too long) is replaced.
    for forged in ["a b\" level=error msg=forged", &"x".repeat(65)] {
        let r = app
            .http
            .get(app.url("/healthz"))
            .header("x-request-id", forged)
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert!(id != forged && id.len() == 36, "{id}");
    }
    app.stop().await;
}

#[tokio::test]
async fn graceful_stop_finishes_and_frees_the_port() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    app.stop().await;
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
}

#[tokio::test]
async fn only_configured_origins_may_call_from_a_browser() {
    let app =
        TestApp::spawn_setting(caisse_shop::config::CORS_ORIGINS, "http://localhost:3000").await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/checkout"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,idempotency-key",
            )
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let r = app
        .http
        .get(app.url("/api/products"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    app.stop().await;
}

/// Reads until the server closes the connection (or `secs` pass): true when it closed.
async fn closed_within(stream: &mut tokio::net::TcpStream, secs: u64) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn silent_slow_and_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn_with(&[
        (caisse_shop::config::HEADER_READ_TIMEOUT, "1"),
        (caisse_shop::config::REQUEST_TIMEOUT, "1"),
        (caisse_shop::config::IDLE_TIMEOUT, "2"),
    ])
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    // Nothing at all.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Headers that never end.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The operators' listener has the same guard.
    let mut metrics_silent = tokio::net::TcpStream::connect(app.metrics_addr())
        .await
        .unwrap();
    for (name, stream) in [
        ("silent", &mut silent),
        ("slow", &mut slow),
        ("metrics", &mut metrics_silent),
    ] {
        assert!(
            closed_within(stream, 8).await,
            "the {name} connection is still open"
        );
    }
    app.stop().await;

    // A request, then silence on a kept-alive connection: the idle limit, well before the
    // (here long) header limit.
    let app = TestApp::spawn_with(&[
        (caisse_shop::config::HEADER_READ_TIMEOUT, "60"),
        (caisse_shop::config::REQUEST_TIMEOUT, "1"),
        (caisse_shop::config::IDLE_TIMEOUT, "2"),
    ])
    .await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1024];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, 8).await,
        "the idle connection is still open"
    );
    app.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_closed_at_once_and_the_rest_keep_working() {
    let app = TestApp::spawn_setting(caisse_shop::config::MAX_CONNECTIONS, "16").await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // Let the server accept them all before the one too many.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut extra, 3).await,
        "the 17th connection is closed"
    );
    drop(held);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.get_json("/healthz").await.0, 200);
    app.stop().await;
}
