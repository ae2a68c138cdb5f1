//! The load generator every measured rate of `caisse-bench` shares: `n` jobs from a fixed number
//! of tasks at once, their rate and latencies, and the signed webhook delivery caisse and the
//! seed's Node stack are both driven with.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use caisse_bench::WEBHOOK_SECRET;

/// Runs `n` jobs from `workers` tasks at once; the rate per second and each job's latency.
pub async fn load<F, Fut>(n: usize, workers: usize, job: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return latencies;
                    }
                    let t = Instant::now();
                    job(i).await;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

/// The `p` quantile of sorted latencies, in ms.
pub fn pct(l: &[Duration], p: f64) -> f64 {
    if l.is_empty() {
        return f64::NAN;
    }
    let i = ((l.len() as f64 - 1.0) * p).round() as usize;
    l[i].as_secs_f64() * 1000.0
}

/// Delivers `body` to the webhook endpoint of the server at `base`, signed now; it must be
/// answered 200.
pub async fn post_signed(http: &reqwest::Client, base: &str, body: String) {
    let sig = caisse_stripe::signature_header(
        &[WEBHOOK_SECRET],
        caisse_shop::store::unix_now(),
        body.as_bytes(),
    );
    let r = http
        .post(format!("{base}/api/webhooks/stripe"))
        .header("stripe-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}
