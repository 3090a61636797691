//! HTTPS only. The plain-HTTP listener runs no handler: dashboard pages are
//! redirected to HTTPS and everything else is refused with `https_required`.
//! The same refusal applies behind a TLS-terminating proxy that reports
//! `X-Forwarded-Proto: http`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;
use std::net::IpAddr;

use crate::auth::lookup;
use crate::domain::keys::Key;
use crate::domain::time::now_ms;
use crate::error::AuthFailure;
use crate::error::Error;
use crate::gate::{client_ip, count_failure, guard_refusal};
use crate::store::security_events::KEY_SENT_OVER_HTTP;

/// What refuses plain HTTP (the plain listener, and the HTTPS listener's front service
/// for what a proxy received over plain HTTP): the app and the HTTPS port to redirect to.
#[derive(Clone)]
pub struct GuardState {
    pub app: AppState,
    pub https_port: u16,
}

fn is_dashboard_page(request: &Request) -> bool {
    let path = request.uri().path();
    matches!(*request.method(), Method::GET | Method::HEAD)
        && (path == "/app" || path.starts_with("/app/"))
}

fn https_location(state: &GuardState, headers: &HeaderMap, path_and_query: &str) -> String {
    if let Some(base) = state.app.config.public_base() {
        return format!("{base}{path_and_query}");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .map(|a| a.host().to_owned())
        .unwrap_or_else(|| state.app.config.listen.ip().to_string());
    match state.https_port {
        443 => format!("https://{host}{path_and_query}"),
        port => format!("https://{host}:{port}{path_and_query}"),
    }
}

/// Records that a valid key travelled in clear: a security event on the key (not
/// usage: the request did nothing).
async fn key_sent_in_clear(app: &AppState, key: Key, client_ip: IpAddr) {
    let client = crate::net::client_bucket(client_ip);
    if let Err(e) = app
        .store
        .record_key_event(&key.account_id, &key.id, KEY_SENT_OVER_HTTP, &client)
        .await
    {
        tracing::error!(error = %e, "could not record a key sent over plain HTTP");
    }
}

/// Refuses a request that arrived over plain HTTP: on the plain listener, and on the
/// HTTPS listener when a trusted proxy received it over plain HTTP (the front service
/// asks before routing it).
pub async fn refuse(state: &GuardState, request: Request) -> Response {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let location = https_location(state, request.headers(), &path_and_query);
    if is_dashboard_page(&request) {
        return (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    let client_ip = client_ip(&request);
    // The key is looked up only to warn its owner, and never for a guessing address.
    if guard_refusal(&state.app, client_ip).await.is_none() {
        match lookup(&state.app.store, request.headers()).await {
            Ok(stored) if stored.key.is_active(now_ms()) => {
                key_sent_in_clear(&state.app, stored.key, client_ip).await;
            }
            Ok(_) | Err(Error::Unauthorized(AuthFailure::InvalidKey)) => {
                count_failure(&state.app, client_ip).await;
            }
            Err(_) => {}
        }
    }
    Error::HttpsRequired(format!(
        "This API accepts HTTPS only; send the request to {location}. \
         A key sent over plain HTTP may have been seen by others: rotate it."
    ))
    .into_response()
}

/// The whole plain-HTTP listener.
pub async fn plain_http(State(state): State<GuardState>, request: Request) -> Response {
    refuse(&state, request).await
}
