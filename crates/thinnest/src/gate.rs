//! The gate every authenticated route sits behind:
//! key-guessing guard → authentication → rate limit → handler → usage count.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::{AuthFailure, Caller, lookup};
use crate::clock::now_ms;
use crate::config::Switch;
use crate::error::Error;
use crate::net::Client;
use crate::ratelimit::{Class, Decision, Mode, seconds_until, set_headers};
use crate::usage::{Outcome, UsageEvent};

fn refused(decision: &Decision) -> Response {
    Error::RateLimited(seconds_until(decision.reset_ms)).into_response()
}

/// Counts a failed authentication against the client's address.
async fn count_failure(state: &AppState, failures: &str) {
    if state.config.limits.rate_limiting == Switch::On {
        let limit = state.config.limits.auth_failure_limit;
        state.limiter.decide(failures, limit, Mode::Take).await;
    }
}

pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let limiting = state.config.limits.rate_limiting == Switch::On;
    let client_ip = request
        .extensions()
        .get::<Client>()
        .map(|c| c.ip)
        .unwrap_or(std::net::Ipv6Addr::UNSPECIFIED.into());
    let failures = format!("auth-failures:{client_ip}");

    // A client that keeps failing to authenticate is slowed down before any lookup.
    if limiting {
        let guard = state
            .limiter
            .decide(
                &failures,
                state.config.limits.auth_failure_limit,
                Mode::Peek,
            )
            .await;
        if !guard.allowed {
            return refused(&guard);
        }
    }
    let class = Class::of(request.method(), request.uri().path());
    let stored = match lookup(&state.store, request.headers()).await {
        Ok(stored) => stored,
        Err(error) => {
            if matches!(error, Error::Unauthorized(_)) {
                count_failure(&state, &failures).await;
            }
            return error.into_response();
        }
    };
    let now = now_ms();
    let key = stored.row;
    let mut event = UsageEvent {
        account_id: key.account_id.clone(),
        key_id: key.id.clone(),
        class,
        outcome: Outcome::Status(401),
        client_ip,
        at: now,
        authenticated: false,
    };
    if !key.is_active(now) {
        count_failure(&state, &failures).await;
        state.usage.record(event);
        return Error::Unauthorized(AuthFailure::InvalidKey).into_response();
    }
    event.authenticated = true;

    let decision = if limiting {
        let limit = state.limits.with_overrides(&stored.rate_limits).get(class);
        let budget = format!("budget:{}:{}", key.account_id, class.as_str());
        Some(state.limiter.decide(&budget, limit, Mode::Take).await)
    } else {
        None
    };
    let mut response = match &decision {
        Some(decision) if !decision.allowed => refused(decision),
        _ => {
            request.extensions_mut().insert(Caller::of(key));
            next.run(request).await
        }
    };
    if let Some(decision) = &decision {
        set_headers(response.headers_mut(), class, decision);
    }
    event.outcome = Outcome::of(response.status());
    state.usage.record(event);
    response
}
