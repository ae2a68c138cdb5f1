//! The shared limiter: the GCRA of `gcra.rs` as a Lua script, so that the read of a key's TAT and
//! its update are one atomic step in Redis, whichever instance asks.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

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

/// How long one limiter call may wait for Redis before falling back.
const TIMEOUT: Duration = Duration::from_millis(500);

/// A Redis limiter whose connection is made on first use and remade after a failure, so that a
/// Redis that is down at start-up or goes away later only degrades the limiter, never caisse.
pub struct RedisLimiter {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    script: Script,
}

impl RedisLimiter {
    pub fn new(url: &str) -> Result<RedisLimiter, redis::RedisError> {
        Ok(RedisLimiter {
            client: redis::Client::open(url)?,
            connection: tokio::sync::Mutex::new(None),
            script: Script::new(GCRA),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let c = tokio::time::timeout(
            TIMEOUT * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await
        .map_err(|_| {
            redis::RedisError::from((redis::ErrorKind::IoError, "Redis did not answer"))
        })??;
        *slot = Some(c.clone());
        Ok(c)
    }

    pub async fn check(
        &self,
        key: &str,
        rate: Rate,
        now_ms: i64,
    ) -> Result<Decision, redis::RedisError> {
        crate::store::forbid_network_in_transaction("a Redis call").map_err(|why| {
            redis::RedisError::from((redis::ErrorKind::ClientError, "refused", why))
        })?;
        let mut connection = self.connection().await?;
        let mut invocation = self.script.key(key);
        invocation
            .arg(now_ms) // unused by the script, which reads Redis's clock; kept for the log
            .arg(rate.interval_ms())
            .arg(rate.burst_ms());
        let call = invocation.invoke_async::<(i64, i64, i64, i64, i64)>(&mut connection);
        let answer = tokio::time::timeout(TIMEOUT, call)
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "Redis timed out")))
            .and_then(|r| r);
        let (allowed, remaining, retry_after_ms, reset_ms, new_tat) = match answer {
            Ok(v) => v,
            Err(e) => {
                // Start over with a fresh connection next time.
                *self.connection.lock().await = None;
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
