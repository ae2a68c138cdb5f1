//! The readiness probe's write: `/readyz` is ready only when a write can complete, not merely
//! when the database answers a read (a held SQLite write lock, a full disk or a PostgreSQL table
//! lock let reads through while every write fails).

use std::time::{Duration, Instant};

use super::statement::args;
use super::{unix_now, Store, StoreError, Tx};

/// How long the probe's write may take before the instance says it is not ready.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// A probe's answer serves the probes of the next second: a load balancer polling every instance
/// often, or a flood of `/readyz`, costs one write a second.
const PROBE_FRESH: Duration = Duration::from_secs(1);

/// The tables every payment writes: a lock on any of them that a write would wait for makes the
/// probe fail at once on PostgreSQL (`NOWAIT`) instead of waiting for the lock.
const PAYMENT_TABLES: &str =
    "products, holds, hold_items, orders, order_items, payments, webhook_events, outbox, audit_log";

impl Store {
    /// One small durable write through the unit of work, as every write goes: on SQLite it takes
    /// the file's write lock and commits (an fsync); on PostgreSQL it also takes the lock every
    /// `INSERT`/`UPDATE` of the payment tables takes, without waiting for it. The caller bounds
    /// how long it may take.
    pub async fn write_probe(&self, now: i64) -> Result<(), StoreError> {
        self.write(async |tx| tx.touch_readiness_probe(now).await)
            .await
    }
}

impl Tx {
    async fn touch_readiness_probe(&mut self, now: i64) -> Result<(), StoreError> {
        if let Tx::Postgres(tx) = self {
            sqlx::query(&format!(
                "LOCK TABLE {PAYMENT_TABLES} IN ROW EXCLUSIVE MODE NOWAIT"
            ))
            .execute(&mut **tx)
            .await?;
        }
        self.run(
            "INSERT INTO readiness_probe (id, at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            args![now],
        )
        .await?;
        Ok(())
    }
}

/// The last probe's answer, and the lock that makes concurrent `/readyz` share one probe.
#[derive(Default)]
pub struct WriteProbe {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl WriteProbe {
    /// Whether a write completes within [`PROBE_TIMEOUT`]; why not, when it does not.
    pub async fn check(&self, store: &Store) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref() {
            if at.elapsed() < PROBE_FRESH {
                return answer.clone();
            }
        }
        let answer = match tokio::time::timeout(PROBE_TIMEOUT, store.write_probe(unix_now())).await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("a write fails: {e}")),
            Err(_) => Err(format!(
                "a write does not complete within {} s (the database's write lock is held?)",
                PROBE_TIMEOUT.as_secs()
            )),
        };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}
