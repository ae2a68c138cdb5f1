//! The hook that writes every exchange with Stripe into `stripe_requests` (DESIGN.md 1.6).
//!
//! The Stripe call only queues its record: a task writes the queue in batches, one unit of work
//! each. So a slow database never stretches a Stripe call, and tracing a call never waits for the
//! SQLite writer. The queue is bounded: when the database cannot keep up, records beyond it are
//! dropped, counted in `caisse_stripe_trace_dropped_total` and logged, rather than held in memory
//! without end. [`StripeLog::flush`] waits until what was queued before it is written (at
//! shutdown, and for tests that read the trace).

use std::future::Future;
use std::pin::Pin;

use caisse_stripe::{RequestHook, RequestRecord};
use tokio::sync::{mpsc, oneshot};

use crate::store::{unix_now, Store};

/// Records waiting to be written at most; past that, new ones are dropped.
const QUEUE: usize = 10_000;
/// Records written in one unit of work at most.
const BATCH: usize = 256;

enum Message {
    Record(Box<RequestRecord>, i64),
    Flush(oneshot::Sender<()>),
}

pub struct StripeLog {
    queue: mpsc::Sender<Message>,
}

impl StripeLog {
    /// Starts the task that writes the trace into `store` (inside a Tokio runtime).
    pub fn start(store: Store) -> StripeLog {
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, incoming));
        StripeLog { queue }
    }

    /// Waits until every record queued before this call is written (or failed to be).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

impl RequestHook for StripeLog {
    fn record(&self, record: RequestRecord) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            metrics::counter!(
                "caisse_stripe_requests_total",
                "method" => record.method.clone(),
                "status" => record.status.map(|s| s.to_string()).unwrap_or_else(|| "none".into())
            )
            .increment(1);
            // A lost trace must not fail the payment it traces.
            if self
                .queue
                .try_send(Message::Record(Box::new(record), unix_now()))
                .is_err()
            {
                metrics::counter!("caisse_stripe_trace_dropped_total").increment(1);
                tracing::warn!("the Stripe request trace is full; a record was dropped");
            }
        })
    }
}

async fn write_batches(store: Store, mut incoming: mpsc::Receiver<Message>) {
    while let Some(first) = incoming.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Record(record, at) => batch.push((*record, at)),
                Message::Flush(done) => flushes.push(done),
            }
            next = if batch.len() < BATCH {
                incoming.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            if let Err(e) = store.record_stripe_requests(&batch).await {
                tracing::warn!(error = %e, records = batch.len(), "could not record Stripe requests");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
