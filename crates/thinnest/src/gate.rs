//! The gate every authenticated route sits behind:
//! key-guessing guard → authentication → rate limit → handler → usage count.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{Caller, cached, verify};
use crate::config::Switch;
use crate::domain::keys::Key;
use crate::domain::limits::Class;
use crate::domain::time::now_ms;
use crate::error::AuthFailure;
use crate::error::Error;
use crate::net::{Client, bucket_key, client_bucket};
use crate::ratelimit::{Decision, Mode, seconds_until, set_headers};
use crate::state::AppState;
use crate::store::security_events::{EXPIRED_KEY_USED, REVOKED_KEY_USED};
use crate::usage::{CountOnDrop, Outcome, UsageEvent};

fn refused(decision: &Decision) -> Response {
    Error::RateLimited(seconds_until(decision.reset_ms)).into_response()
}

/// The request's client address (unspecified if unknown).
pub fn client_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<Client>()
        .map_or(std::net::Ipv6Addr::UNSPECIFIED.into(), |c| c.ip)
}

/// The budget of failed authentications of an address. An IPv6 client usually holds
/// a whole /64, so it is counted as one.
fn failures_of(ip: IpAddr) -> String {
    bucket_key("auth-failures:", ip)
}

/// The key-guessing guard: a refusal when the address failed to authenticate too often.
pub async fn guard_refusal(state: &AppState, ip: IpAddr) -> Option<Response> {
    if state.config.limits.rate_limiting == Switch::Off {
        return None;
    }
    let limit = state.config.limits.auth_failure_limit;
    let decision = state
        .limiter
        .decide(&failures_of(ip), limit, Mode::Peek)
        .await;
    (!decision.allowed).then(|| refused(&decision))
}

/// Counts a failed authentication against the address.
pub async fn count_failure(state: &AppState, ip: IpAddr) {
    if state.config.limits.rate_limiting == Switch::On {
        let limit = state.config.limits.auth_failure_limit;
        state
            .limiter
            .decide(&failures_of(ip), limit, Mode::Take)
            .await;
    }
}

/// A revoked or expired key was presented: a security event on the key (one row per
/// key, kind and client, counting repeats), not usage of the account. Written off the
/// response path; the key-guessing guard bounds how often one client gets here.
fn retired_key_used(state: &AppState, key: &Key, ip: IpAddr) {
    let kind = if key.revoked_at.is_some() {
        REVOKED_KEY_USED
    } else {
        EXPIRED_KEY_USED
    };
    let (store, account, id) = (state.store.clone(), key.account_id.clone(), key.id.clone());
    tokio::spawn(async move {
        if let Err(e) = store
            .record_key_event(&account, &id, kind, &client_bucket(ip))
            .await
        {
            tracing::error!(error = %e, "could not record the use of a retired key");
        }
    });
}

/// The gate of one router's routes, with the budget their requests spend.
#[derive(Clone)]
struct Gate {
    state: AppState,
    class: Class,
}

/// Puts a router's routes behind the gate: its routes spend `class`. Each router
/// declares its class where it declares its routes.
pub trait Gated {
    fn gated(self, state: &AppState, class: Class) -> Self;
}

impl Gated for OpenApiRouter<AppState> {
    fn gated(self, state: &AppState, class: Class) -> Self {
        let gate_state = Gate {
            state: state.clone(),
            class,
        };
        self.route_layer(from_fn_with_state(gate_state, gate))
    }
}

/// The budget of an account for one class of requests.
fn budget_of(key: &Key, class: Class) -> String {
    account_budget(&key.account_id, class)
}

/// The budget of an account for one class of requests, whoever spends it: its keys
/// through the API, its members through the dashboard.
pub fn account_budget(account_id: &str, class: Class) -> String {
    ["budget:", account_id, ":", class.as_str()].concat()
}

/// Spends one request of the account's budget for `class` (its overrides applied),
/// as the API does for its keys; when the budget is spent, the seconds until a slot
/// frees.
pub async fn spend(state: &AppState, account_id: &str, class: Class) -> Result<(), u64> {
    if state.config.limits.rate_limiting != Switch::On {
        return Ok(());
    }
    let overrides = state
        .store
        .rate_limit_overrides(account_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    let limit = state.limits.with_overrides(&overrides).get(class);
    let decision = state
        .limiter
        .decide(&account_budget(account_id, class), limit, Mode::Take)
        .await;
    if decision.allowed {
        Ok(())
    } else {
        Err(seconds_until(decision.reset_ms))
    }
}

/// The request's use of the account, counted when it ends (abandoned, unless told its
/// outcome).
fn use_of(state: &AppState, key: &Key, class: Class, ip: IpAddr, at: i64) -> CountOnDrop {
    state.usage.on_drop(UsageEvent {
        account_id: key.account_id.clone(),
        key_id: key.id.clone(),
        class,
        outcome: Outcome::Abandoned,
        client_ip: ip,
        at,
    })
}

async fn gate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let Gate { state, class } = gate;
    let ip = client_ip(&request);
    let limiting = state.config.limits.rate_limiting == Switch::On;
    let now = now_ms();
    let (verified, mut counted, decision) = match cached(&state.keys, request.headers()) {
        // A key this instance has verified already needs no lookup: the key-guessing
        // guard and the budget are decided together (one round trip to Redis).
        Some(verified) if limiting && verified.key.is_active(now) => {
            let counted = use_of(&state, &verified.key, class, ip, now);
            let failures = failures_of(ip);
            let budget = budget_of(&verified.key, class);
            let (guard, taken) = state
                .limiter
                .peek_then_take(
                    (&failures, state.config.limits.auth_failure_limit),
                    (&budget, verified.limits.get(class)),
                )
                .await;
            match taken {
                Some(decision) => (verified, counted, Some(decision)),
                None => {
                    // Refused for its address, before it spoke for the account.
                    counted.forget();
                    return refused(&guard);
                }
            }
        }
        _ => {
            // A client that keeps failing to authenticate is slowed down before any lookup.
            if let Some(refusal) = guard_refusal(&state, ip).await {
                return refusal;
            }
            let verified =
                match verify(&state.keys, &state.store, state.limits, request.headers()).await {
                    Ok(verified) => verified,
                    Err(error) => {
                        if matches!(error, Error::Unauthorized(_)) {
                            count_failure(&state, ip).await;
                        }
                        return error.into_response();
                    }
                };
            let now = now_ms();
            if !verified.key.is_active(now) {
                count_failure(&state, ip).await;
                retired_key_used(&state, &verified.key, ip);
                return Error::Unauthorized(AuthFailure::InvalidKey).into_response();
            }
            let counted = use_of(&state, &verified.key, class, ip, now);
            let decision = match limiting {
                true => {
                    let budget = budget_of(&verified.key, class);
                    let limit = verified.limits.get(class);
                    Some(state.limiter.decide(&budget, limit, Mode::Take).await)
                }
                false => None,
            };
            (verified, counted, decision)
        }
    };
    let mut response = match &decision {
        Some(decision) if !decision.allowed => refused(decision),
        _ => {
            request
                .extensions_mut()
                .insert(Caller::of(&verified.key, ip));
            next.run(request).await
        }
    };
    if let Some(decision) = &decision {
        set_headers(response.headers_mut(), class, decision);
    }
    counted.set_outcome(Outcome::of(response.status()));
    response
}

#[cfg(test)]
mod tests {
    use super::failures_of;

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_block() {
        let a = failures_of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = failures_of("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = failures_of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            failures_of("203.0.113.5".parse().unwrap()),
            "auth-failures:203.0.113.5"
        );
    }
}
