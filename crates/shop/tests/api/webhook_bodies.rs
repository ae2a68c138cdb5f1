//! What a flood of unverified webhook bodies can cost: a delivery without a signature header is
//! refused before its body is read, and bodies read but not yet verified share one budget of
//! memory (64 MiB), past which a delivery waits briefly and is answered 503 (Stripe retries).

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{event, TestApp};

/// Sends a webhook's headers declaring a 1 MiB body, and no body.
async fn stalled_delivery(app: &TestApp, signature: Option<&str>) -> TcpStream {
    let addr = app.url("").trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(addr.trim_end_matches('/'))
        .await
        .unwrap();
    let signature = signature
        .map(|s| format!("Stripe-Signature: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /api/webhooks/stripe HTTP/1.1\r\nHost: caisse\r\nContent-Type: application/json\r\n\
         {signature}Content-Length: 1048576\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn status_line(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_delivery_without_a_signature_is_refused_before_its_body() {
    let app = TestApp::spawn().await;
    let mut stream = stalled_delivery(&app, None).await;
    // The 1 MiB body never comes: the answer does not wait for it.
    assert!(status_line(&mut stream).await.contains(" 400 "));
    app.stop().await;
}

#[tokio::test]
async fn unverified_bodies_share_one_budget_and_stripe_is_told_to_retry_past_it() {
    let app = TestApp::spawn().await;
    let header = format!(
        "t={},v1={}",
        caisse_shop::store::unix_now(),
        "ab".repeat(32)
    );
    // 64 deliveries of 1 MiB whose bodies are still coming hold the whole budget.
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(stalled_delivery(&app, Some(&header)).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let mut one_more = stalled_delivery(&app, Some(&header)).await;
    let answer = status_line(&mut one_more).await;
    assert!(answer.contains(" 503 "), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "it waited for room first"
    );
    // Once they are gone, a genuine delivery goes through.
    drop(held);
    drop(one_more);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ping = event(
        "customer.created",
        json!({"id": "cus_1", "object": "customer"}),
    );
    let (status, body) = app.deliver(&ping).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}
