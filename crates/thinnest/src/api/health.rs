//! `GET /health` (readiness): unauthenticated; 200 when the store answers.
//! `GET /health/live` (liveness): 200 while the process serves, touching nothing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Switch;
use crate::error::{ErrorBody, envelope};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
    /// `ok`
    pub database: &'static str,
    /// Which limiter decides: `in_process`, `redis`, `in_process_redis_unreachable`, or `off`.
    pub rate_limiter: &'static str,
    /// `live` while this instance follows the key-change feed and answers from its key
    /// cache; `catching_up` while it verifies every key in the database instead.
    pub key_cache: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    /// `ok`
    pub status: &'static str,
}

/// Whether this process serves requests, without asking the database or the limiter:
/// for load balancers and supervisors that ask often.
#[utoipa::path(get, path = "/health/live", tag = "meta", responses((status = 200, body = Liveness)))]
async fn live() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// Whether this instance and its database answer: readiness to serve.
#[utoipa::path(get, path = "/health", tag = "meta",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn health(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.store.ping().await {
        Json(Health {
            status: "ok",
            database: "ok",
            rate_limiter: match state.config.limits.rate_limiting {
                Switch::On => state.limiter.status(),
                Switch::Off => "off",
            },
            key_cache: state.keys.status(),
        })
        .into_response()
    } else {
        envelope(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The database does not answer.".to_owned(),
        )
    }
}
