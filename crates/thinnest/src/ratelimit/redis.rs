//! Budgets shared by every instance, in Redis: the same sliding log as a sorted
//! set, decided atomically by one Lua script in one round trip, on Redis's clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use super::window::{Decision, Mode};

/// The sliding log of one budget (`key`, `limit` per `window` ms), on Redis's clock:
/// trims it, counts it, takes a slot if asked and there is room, and answers
/// `{allowed, count, ms until a slot frees}`.
const DECIDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function decide(key, limit, window, take, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local allowed = 0
  if count < limit then
    allowed = 1
    if take then
      redis.call('ZADD', key, now, now .. ':' .. member)
      redis.call('PEXPIRE', key, window)
      count = count + 1
    end
  end
  local reset = 0
  local at = math.max(count - limit, 0)
  local freeing = redis.call('ZRANGE', key, at, at, 'WITHSCORES')
  if freeing[2] then reset = tonumber(freeing[2]) + window - now end
  return {allowed, count, reset}
end
";

/// One budget: `ARGV` = limit, window, `take` or `peek`, member.
const ONE: &str =
    "return decide(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == 'take', ARGV[4])";

/// A peek at `KEYS[1]` and, only if it has room, a take from `KEYS[2]`, in one round
/// trip: `ARGV` = the first limit, the second limit, the window, member. Answers the
/// peek's three figures, then the take's (zeros when the peek refused).
const PEEK_THEN_TAKE: &str = "\
local peek = decide(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[3]), false, '')
if peek[1] == 0 then return {peek[1], peek[2], peek[3], 0, 0, 0} end
local take = decide(KEYS[2], tonumber(ARGV[2]), tonumber(ARGV[3]), true, ARGV[4])
return {peek[1], peek[2], peek[3], take[1], take[2], take[3]}";

/// How long a decision may wait for Redis before the in-process limiter decides.
const TIMEOUT: Duration = Duration::from_millis(1000);

pub struct RedisWindows {
    client: redis::Client,
    one: redis::Script,
    peek_then_take: redis::Script,
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
            one: redis::Script::new(&format!("{DECIDE}{ONE}")),
            peek_then_take: redis::Script::new(&format!("{DECIDE}{PEEK_THEN_TAKE}")),
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

    fn member(&self) -> String {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        format!("{}{n:x}", self.member_prefix)
    }

    fn key(&self, key: &str) -> String {
        format!("{}:{key}", self.prefix)
    }

    async fn run(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        mode: Mode,
    ) -> redis::RedisResult<Decision> {
        let mut connection = self.connection().await?;
        let figures: (i64, i64, i64) = self
            .one
            .key(self.key(key))
            .arg(limit)
            .arg(window_ms)
            .arg(if mode == Mode::Take { "take" } else { "peek" })
            .arg(self.member())
            .invoke_async(&mut connection)
            .await?;
        Ok(decision(limit, figures))
    }

    async fn run_peek_then_take(
        &self,
        peek: (&str, u32),
        take: (&str, u32),
        window_ms: i64,
    ) -> redis::RedisResult<(Decision, Option<Decision>)> {
        let mut connection = self.connection().await?;
        let (a, b, c, d, e, f): (i64, i64, i64, i64, i64, i64) = self
            .peek_then_take
            .key(self.key(peek.0))
            .key(self.key(take.0))
            .arg(peek.1)
            .arg(take.1)
            .arg(window_ms)
            .arg(self.member())
            .invoke_async(&mut connection)
            .await?;
        let peeked = decision(peek.1, (a, b, c));
        Ok((peeked, peeked.allowed.then(|| decision(take.1, (d, e, f)))))
    }

    /// The decision, or an error when Redis did not answer in time.
    pub async fn decide(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        mode: Mode,
    ) -> Result<Decision, String> {
        within_timeout(self.run(key, limit, window_ms, mode)).await
    }

    /// [`super::Limiter::peek_then_take`] in one round trip, or an error when Redis
    /// did not answer in time.
    pub async fn peek_then_take(
        &self,
        peek: (&str, u32),
        take: (&str, u32),
        window_ms: i64,
    ) -> Result<(Decision, Option<Decision>), String> {
        within_timeout(self.run_peek_then_take(peek, take, window_ms)).await
    }
}

fn decision(limit: u32, (allowed, count, reset_ms): (i64, i64, i64)) -> Decision {
    Decision {
        allowed: allowed == 1,
        limit,
        remaining: limit.saturating_sub(u32::try_from(count).unwrap_or(u32::MAX)),
        reset_ms,
    }
}

async fn within_timeout<T>(
    work: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 1 s".to_owned()),
    }
}
