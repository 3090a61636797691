//! Rate limits per account and class over any rolling minute, and the guard that
//! slows down clients guessing keys. In-process by default; with Redis, every
//! instance shares one budget. If Redis stops answering, the in-process limiter
//! decides until it is back: requests keep being served, each instance limiting on
//! its own, rather than all failing because a shared counter is out of reach.

mod redis;
mod window;

use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

pub use window::{Decision, LocalWindows, Mode, WINDOW_MS};

use crate::domain::limits::Class;
use crate::domain::time::now_ms;
use redis::RedisWindows;

/// How often, at most, an unreachable Redis is logged.
const WARN_EVERY_MS: i64 = 60_000;
/// After Redis fails, how long the in-process limiter decides before Redis is tried
/// again, so that an outage costs requests no waiting.
const RETRY_REDIS_AFTER_MS: i64 = 5_000;

pub struct Limiter {
    local: LocalWindows,
    redis: Option<RedisWindows>,
    /// While `now` is before this time, Redis is not asked (0: ask).
    redis_retry_at: AtomicI64,
    last_warning: AtomicI64,
}

impl Limiter {
    /// In-process only, or shared through Redis at `redis_url` under `prefix`.
    pub fn new(redis_url: Option<&str>, prefix: &str) -> anyhow::Result<Limiter> {
        let redis = redis_url
            .map(|url| RedisWindows::new(url, prefix))
            .transpose()
            .map_err(|e| anyhow::anyhow!("invalid --redis-url: {e}"))?;
        Ok(Limiter {
            local: LocalWindows::default(),
            redis,
            redis_retry_at: AtomicI64::new(0),
            last_warning: AtomicI64::new(0),
        })
    }

    /// Decides for the budget `key` with `limit` requests per minute.
    pub async fn decide(&self, key: &str, limit: u32, mode: Mode) -> Decision {
        self.decide_over(key, limit, WINDOW_MS, mode).await
    }

    /// Spends one request of the budget `key` (`limit` a minute); when it is spent,
    /// the milliseconds until a slot frees.
    pub async fn wait_for(&self, key: &str, limit: u32) -> Option<i64> {
        let decision = self.decide(key, limit, Mode::Take).await;
        (!decision.allowed).then_some(decision.reset_ms)
    }

    /// Decides for the budget `key` with `limit` requests in any `window_ms`.
    pub async fn decide_over(&self, key: &str, limit: u32, window_ms: i64, mode: Mode) -> Decision {
        let shared = self.ask_redis(|redis| redis.decide(key, limit, window_ms, mode));
        match shared.await {
            Some(decision) => decision,
            None => self.local.decide(key, limit, window_ms, now_ms(), mode),
        }
    }

    /// Looks at the budget `peek` and, only if it has room, spends one request of the
    /// budget `take` (each a name and a limit per minute), in one round trip to Redis.
    /// The second decision is `None` when the first refused.
    pub async fn peek_then_take(
        &self,
        peek: (&str, u32),
        take: (&str, u32),
    ) -> (Decision, Option<Decision>) {
        let shared = self.ask_redis(|redis| redis.peek_then_take(peek, take, WINDOW_MS));
        if let Some(decisions) = shared.await {
            return decisions;
        }
        let now = now_ms();
        let peeked = self
            .local
            .decide(peek.0, peek.1, WINDOW_MS, now, Mode::Peek);
        let taken = peeked.allowed.then(|| {
            self.local
                .decide(take.0, take.1, WINDOW_MS, now, Mode::Take)
        });
        (peeked, taken)
    }

    /// Redis's answer to `ask`, or `None` when there is no Redis, or it failed lately
    /// or now (then the in-process limiter decides).
    async fn ask_redis<'a, T, F>(&'a self, ask: impl FnOnce(&'a RedisWindows) -> F) -> Option<T>
    where
        F: std::future::Future<Output = Result<T, String>>,
    {
        let now = now_ms();
        let redis = self.redis.as_ref()?;
        if now < self.redis_retry_at.load(Ordering::Relaxed) {
            return None;
        }
        match ask(redis).await {
            Ok(answer) => {
                if self.redis_retry_at.swap(0, Ordering::Relaxed) != 0 {
                    tracing::info!("Redis answers again: rate limits are shared again");
                }
                Some(answer)
            }
            Err(error) => {
                self.redis_retry_at
                    .store(now_ms() + RETRY_REDIS_AFTER_MS, Ordering::Relaxed);
                let last = self.last_warning.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= WARN_EVERY_MS
                    && self
                        .last_warning
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(%error, "Redis unreachable: limiting in process until it answers");
                }
                None
            }
        }
    }

    /// Which limiter decides now, for `/health`.
    pub fn status(&self) -> &'static str {
        match (&self.redis, self.redis_retry_at.load(Ordering::Relaxed)) {
            (None, _) => "in_process",
            (Some(_), 0) => "redis",
            (Some(_), _) => "in_process_redis_unreachable",
        }
    }
}

/// Whole seconds until `ms` have passed, rounded up, at least 1.
pub fn seconds_until(ms: i64) -> u64 {
    u64::try_from((ms.max(1) + 999) / 1000).unwrap_or(1)
}

/// The rate-limit headers of a response: the common `X-RateLimit-*` trio and the
/// IETF draft's `RateLimit-Policy` / `RateLimit` fields.
pub fn set_headers(headers: &mut HeaderMap, class: Class, decision: &Decision) {
    let reset = if decision.reset_ms > 0 {
        seconds_until(decision.reset_ms)
    } else {
        0
    };
    let reset_at = u64::try_from(now_ms() / 1000).unwrap_or(0) + reset;
    let name = class.as_str();
    let window = u64::try_from(WINDOW_MS / 1000).unwrap_or(0);
    let (limit, remaining) = (u64::from(decision.limit), u64::from(decision.remaining));
    let fields = [
        (X_LIMIT, HeaderValue::from(limit)),
        (X_REMAINING, HeaderValue::from(remaining)),
        (X_RESET, HeaderValue::from(reset_at)),
        (POLICY, structured(name, ("q", limit), ("w", window))),
        (RATELIMIT, structured(name, ("r", remaining), ("t", reset))),
    ];
    for (header, value) in fields {
        headers.insert(header, value);
    }
}

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// `"name";a=1;b=2`, written straight into the header's bytes (every request carries two).
fn structured(name: &str, first: (&str, u64), second: (&str, u64)) -> HeaderValue {
    let mut digits = itoa::Buffer::new();
    let mut out = Vec::with_capacity(name.len() + 32);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.push(b'"');
    for (parameter, value) in [first, second] {
        out.push(b';');
        out.extend_from_slice(parameter.as_bytes());
        out.push(b'=');
        out.extend_from_slice(digits.format(value).as_bytes());
    }
    HeaderValue::try_from(out).expect("a class name and digits are a valid header value")
}
