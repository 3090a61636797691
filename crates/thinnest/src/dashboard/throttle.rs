//! The sign-in throttle: every check of a person's password (sign-in, connecting a
//! provider, changing the password) goes through [`attempt_password`].
//!
//! Budgets that a stranger can spend never refuse the owner:
//! - per client and email: 10 attempts a minute, then exponential back-off after 5
//!   consecutive failures. Only that client is slowed; a known browser (below) is
//!   counted by itself, so others at its address do not slow it either.
//! - per email from everywhere: failures only are counted. Past 20 a minute, a
//!   browser this person never signed in with gets 2 attempts a minute for the
//!   address: slowed, never refused for longer than that minute.
//! - a browser that signed in successfully before carries a device cookie (sealed,
//!   so only this installation can make one, and bound to the person). It is never
//!   slowed by other clients' failures; 10 failures a minute with it stop it counting
//!   as known.

use axum::http::{HeaderMap, HeaderValue};

use super::PageError;
use super::session::cookie_value;
use crate::auth::password::Password;
use crate::domain::actors::Actor;
use crate::domain::people::User;
use crate::domain::time::now_ms;
use crate::net::{Client, client_bucket};
use crate::ratelimit::Mode;
use crate::secrets::api_key::random_base62;
use crate::state::AppState;

/// Attempts per minute from one client for one email.
const ATTEMPTS_PER_EMAIL_AND_CLIENT: u32 = 10;
/// Failures per minute for one email, from everywhere, before unknown browsers are slowed.
const FAILURES_BEFORE_SLOWING: u32 = 20;
/// Attempts per minute one unknown browser gets while its address is being guessed at.
const SLOWED_ATTEMPTS: u32 = 2;
/// Failures per minute with one device cookie before it stops counting as known.
const DEVICE_FAILURES: u32 = 10;
/// Consecutive failures before back-off starts, and its ceiling.
const FREE_FAILURES: i64 = 5;
const MAX_LOCK_MS: i64 = 15 * 60_000;

pub const DEVICE_COOKIE: &str = "__Host-thinnest_device";
/// A device cookie lasts a year.
const DEVICE_MAX_AGE_S: i64 = 365 * 24 * 3600;
/// What a device cookie is sealed for (the sealing binds it to this use).
const DEVICE_CONTEXT: &str = "device-cookie";

/// A browser that signed in as a person before.
pub struct Device {
    user_id: String,
    nonce: String,
}

impl Device {
    /// The `Set-Cookie` value that marks this browser as known for the person.
    pub fn issue(state: &AppState, user_id: &str) -> Result<HeaderValue, PageError> {
        let plain = format!("{user_id}\n{}\n{}", random_base62(22), now_ms());
        let sealed = state.sealer.seal(plain.as_bytes(), DEVICE_CONTEXT)?;
        let cookie = format!(
            "{DEVICE_COOKIE}={sealed}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={DEVICE_MAX_AGE_S}"
        );
        Ok(HeaderValue::from_str(&cookie)?)
    }

    /// The device cookie of this request, if it is one of ours and unexpired.
    fn of(state: &AppState, headers: &HeaderMap) -> Option<Device> {
        let sealed = cookie_value(headers, DEVICE_COOKIE)?;
        let plain = state.sealer.open(sealed, DEVICE_CONTEXT).ok()?;
        let plain = String::from_utf8(plain).ok()?;
        let mut parts = plain.split('\n');
        let (user_id, nonce, issued) = (parts.next()?, parts.next()?, parts.next()?);
        let issued: i64 = issued.parse().ok()?;
        (now_ms() - issued < DEVICE_MAX_AGE_S * 1000).then(|| Device {
            user_id: user_id.to_owned(),
            nonce: nonce.to_owned(),
        })
    }

    fn failures(&self) -> String {
        format!("login-device-failed:{}", self.nonce)
    }
}

/// Milliseconds sign-ins for an email are blocked after this many consecutive failures.
fn back_off_ms(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let exponent = u32::try_from((failures - FREE_FAILURES).min(20)).unwrap_or(20);
    (1000_i64 << exponent).min(MAX_LOCK_MS)
}

/// How a password check went.
pub enum Attempt {
    Matched(User),
    Wrong,
    /// Refused before the password was looked at; retry after this many ms.
    TooMany(i64),
}

/// The browser's device cookie, if it is known for `user`'s person and not being
/// guessed with.
async fn known_device(
    state: &AppState,
    headers: &HeaderMap,
    user: Option<&User>,
) -> Option<Device> {
    let device = Device::of(state, headers).filter(|d| user.is_some_and(|u| u.id == d.user_id))?;
    let used = state
        .limiter
        .decide(&device.failures(), DEVICE_FAILURES, Mode::Peek)
        .await;
    used.allowed.then_some(device)
}

/// Checks a password for an email under the throttle described above. Every budget is
/// spent before the password is hashed, atomically, so parallel guesses count one by one.
pub async fn attempt_password(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    email: &str,
    password: Password,
) -> Result<Attempt, PageError> {
    let user = state.store.user_by_email(email).await?;
    let device = known_device(state, headers, user.as_ref()).await;
    // A known browser is counted by itself, not by the address it shares with others.
    let attempt = match &device {
        Some(device) => format!("{email}|device:{}", device.nonce),
        None => format!("{email}|{}", client_bucket(client.ip)),
    };
    let budget = format!("login-attempt:{attempt}");
    if let Some(wait_ms) = state
        .limiter
        .wait_for(&budget, ATTEMPTS_PER_EMAIL_AND_CLIENT)
        .await
    {
        return Ok(Attempt::TooMany(wait_ms));
    }
    if let Some(until) = state.store.login_locked_until(&attempt).await? {
        return Ok(Attempt::TooMany(until - now_ms()));
    }
    let failed_everywhere = format!("login-failed:{email}");
    if device.is_none() {
        let guessed = state
            .limiter
            .decide(&failed_everywhere, FAILURES_BEFORE_SLOWING, Mode::Peek)
            .await;
        let slowed = format!("login-slowed:{attempt}");
        if !guessed.allowed
            && let Some(wait_ms) = state.limiter.wait_for(&slowed, SLOWED_ATTEMPTS).await
        {
            return Ok(Attempt::TooMany(wait_ms));
        }
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state.passwords.verify(password, stored).await?;
    match user {
        Some(user) if matches => {
            state.store.clear_login_failures(&attempt).await?;
            Ok(Attempt::Matched(user))
        }
        known => {
            state
                .store
                .count_login_failure(&attempt, back_off_ms)
                .await?;
            let failures = [
                Some((failed_everywhere, FAILURES_BEFORE_SLOWING)),
                device.map(|d| (d.failures(), DEVICE_FAILURES)),
            ];
            for (budget, limit) in failures.into_iter().flatten() {
                state.limiter.decide(&budget, limit, Mode::Take).await;
            }
            if let Some(user) = known {
                // Off the response path, so a known address answers as fast as an unknown one.
                let (store, actor) = (state.store.clone(), Actor::anonymous(client.ip));
                let bucket = client_bucket(client.ip);
                tokio::spawn(async move {
                    if let Err(e) = store.record_failed_sign_in(&user.id, &actor, &bucket).await {
                        tracing::error!(error = %e, "could not audit a failed sign-in");
                    }
                });
            }
            Ok(Attempt::Wrong)
        }
    }
}
