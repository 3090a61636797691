//! Budgets shared by every instance, in Redis: the same sliding log as a sorted
//! set, decided atomically by one Lua script in one round trip, on Redis's clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use super::window::{Decision, Mode};

const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  allowed = 1
  if ARGV[3] == 'take' then
    redis.call('ZADD', KEYS[1], now, now .. ':' .. ARGV[4])
    redis.call('PEXPIRE', KEYS[1], window)
    count = count + 1
  end
end
local reset = 0
local at = math.max(count - limit, 0)
local freeing = redis.call('ZRANGE', KEYS[1], at, at, 'WITHSCORES')
if freeing[2] then reset = tonumber(freeing[2]) + window - now end
return {allowed, count, reset}
";

/// How long a decision may wait for Redis before the in-process limiter decides.
const TIMEOUT: Duration = Duration::from_millis(1000);

pub struct RedisWindows {
    client: redis::Client,
    script: redis::Script,
    prefix: String,
    /// Connected lazily, so that a server starts while Redis is down.
    connection: Mutex<Option<ConnectionManager>>,
    /// Members of the logs: this process's random prefix and a counter, unique across
    /// instances without a call to the system's random source per decision.
    member_prefix: String,
    next_member: AtomicU64,
}

impl RedisWindows {
    pub fn new(url: &str, prefix: &str) -> redis::RedisResult<RedisWindows> {
        Ok(RedisWindows {
            client: redis::Client::open(url)?,
            script: redis::Script::new(SCRIPT),
            prefix: prefix.to_owned(),
            connection: Mutex::new(None),
            member_prefix: uuid::Uuid::new_v4().simple().to_string(),
            next_member: AtomicU64::new(0),
        })
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connection = self
            .client
            .get_connection_manager_with_config(config)
            .await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn run(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        mode: Mode,
    ) -> redis::RedisResult<Decision> {
        let mut connection = self.connection().await?;
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}{n:x}", self.member_prefix);
        let (allowed, count, reset_ms): (i64, i64, i64) = self
            .script
            .key(format!("{}:{key}", self.prefix))
            .arg(limit)
            .arg(window_ms)
            .arg(if mode == Mode::Take { "take" } else { "peek" })
            .arg(member)
            .invoke_async(&mut connection)
            .await?;
        Ok(Decision {
            allowed: allowed == 1,
            limit,
            remaining: limit.saturating_sub(u32::try_from(count).unwrap_or(u32::MAX)),
            reset_ms,
        })
    }

    /// The decision, or an error when Redis did not answer in time.
    pub async fn decide(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        mode: Mode,
    ) -> Result<Decision, String> {
        match tokio::time::timeout(TIMEOUT, self.run(key, limit, window_ms, mode)).await {
            Ok(Ok(decision)) => Ok(decision),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("no answer within 1 s".to_owned()),
        }
    }
}
