//! The shared limiter: the GCRA of `gcra.rs` as a Lua script, so that the read of a key's TAT and
//! its update are one atomic step in Redis, whichever instance asks.
//!
//! Every call, connecting included, is bounded by `CAISSE_REDIS_TIMEOUT_MS`, and no lock is held
//! while Redis is asked: the connection slot is locked only to copy or replace the (multiplexed,
//! cheap to clone) connection. A Redis that accepts connections and never answers thus costs each
//! caller at most the time limit, side by side, never a queue behind one reconnect.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Script};

use super::gcra::{Decision, Rate};

// The clock is Redis's own (TIME): instances whose clocks disagree still share one budget.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local candidate = tat + interval
if candidate - now > burst then
  return {0, 0, candidate - burst - now, tat - now, tat}
end
redis.call('SET', KEYS[1], candidate, 'PX', candidate - now)
return {1, math.floor((burst - (candidate - now)) / interval), 0, candidate - now, candidate}
"#;

/// A Redis limiter whose connection is made on first use and remade after a failure, so that a
/// Redis that is down at start-up or goes away later only degrades the limiter, never caisse.
pub struct RedisLimiter {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
    script: Script,
    timeout: Duration,
}

fn io_error(what: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::IoError, what))
}

impl RedisLimiter {
    pub fn new(url: &str, timeout: Duration) -> Result<RedisLimiter, RedisError> {
        Ok(RedisLimiter {
            client: redis::Client::open(url)?,
            connection: Mutex::new(None),
            script: Script::new(GCRA),
            timeout,
        })
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection, or a new one; two callers that find none may both connect, and the
    /// later one's is kept: cheaper than making every caller wait for one connect.
    async fn connection(&self) -> Result<MultiplexedConnection, RedisError> {
        if let Some(c) = self.slot().clone() {
            return Ok(c);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout);
        let c = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.slot() = Some(c.clone());
        Ok(c)
    }

    pub async fn check(&self, key: &str, rate: Rate, now_ms: i64) -> Result<Decision, RedisError> {
        crate::store::forbid_network_in_transaction("a Redis call")
            .map_err(|why| RedisError::from((redis::ErrorKind::ClientError, "refused", why)))?;
        let call = async {
            let mut connection = self.connection().await?;
            let mut invocation = self.script.key(key);
            invocation
                .arg(now_ms) // unused by the script, which reads Redis's clock; kept for the log
                .arg(rate.interval_ms())
                .arg(rate.burst_ms());
            invocation
                .invoke_async::<(i64, i64, i64, i64, i64)>(&mut connection)
                .await
        };
        let answer = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| io_error("Redis did not answer in time"))
            .and_then(|r| r);
        let (allowed, remaining, retry_after_ms, reset_ms, new_tat) = match answer {
            Ok(v) => v,
            Err(e) => {
                // Start over with a fresh connection next time.
                *self.slot() = None;
                return Err(e);
            }
        };
        Ok(Decision {
            allowed: allowed == 1,
            remaining: remaining.max(0) as u32,
            retry_after_ms,
            reset_ms,
            new_tat,
        })
    }
}
