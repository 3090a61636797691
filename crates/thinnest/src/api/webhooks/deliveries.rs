//! `/webhooks/{id}/deliveries`: the delivery log of an endpoint, redelivery, and test events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::found;
use crate::api::page::PageQuery;
use crate::api::{ApiPath, ApiQuery, ErrorResponses};
use crate::auth::Caller;
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::roles::Permission;
use crate::domain::time::rfc3339;
use crate::error::{Error, Result};
use crate::services::webhooks::{redeliver_one, send_test};
use crate::state::AppState;
use crate::store::outbox::{AttemptRow, DeliveryRow};

use super::find;

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// `whd_…`, sent as `X-ThinnestAI-Delivery`.
    pub id: String,
    pub endpoint_id: String,
    /// `evt_…`, the body's `id` and the `webhook-id` header; the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed` (no attempts left, or the endpoint answered 410).
    pub status: String,
    pub attempts: i64,
    /// When a pending delivery is next tried.
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the latest attempt, if an answer came.
    pub last_status: Option<i64>,
    /// Why the latest attempt got no answer.
    pub last_error: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Self {
        Delivery {
            next_attempt_at: (row.status == "pending").then(|| rfc3339(row.next_attempt_at)),
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_id: row.event_id,
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: rfc3339(row.created_at),
            completed_at: row.completed_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

/// One attempt: the request's headers and what came back.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    pub attempted_at: String,
    /// The headers sent, signatures included (never the secret).
    pub request_headers: serde_json::Value,
    /// Null when no answer came.
    pub response_status: Option<i64>,
    /// The first 2 KiB of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl From<AttemptRow> for Attempt {
    fn from(row: AttemptRow) -> Self {
        Attempt {
            attempted_at: rfc3339(row.attempted_at),
            request_headers: serde_json::from_str(&row.request_headers).unwrap_or_default(),
            response_status: row.response_status,
            response_body: row.response_body,
            error: row.error,
            latency_ms: row.latency_ms,
        }
    }
}

/// A delivery with the body it sends and every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The exact body sent, as text.
    pub request_body: String,
    pub attempt_log: Vec<Attempt>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = DeliveryPage), ErrorResponses), security(("api_key" = [])))]
pub(super) async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<DeliveryPage>> {
    caller.require(Permission::WebhooksManage)?;
    let page = query.checked::<DeliveryId>()?;
    let endpoint = find(&state, &caller, &id).await?;
    let rows = state
        .store
        .webhook_deliveries(&caller.account_id, &endpoint.id, page.before, page.fetch())
        .await?;
    let (rows, next_cursor) = page.split(rows, |r| &r.id);
    Ok(Json(DeliveryPage {
        data: rows.into_iter().map(Delivery::from).collect(),
        next_cursor,
    }))
}

/// One delivery, with its body and its attempts.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 200, body = DeliveryDetail), ErrorResponses), security(("api_key" = [])))]
pub(super) async fn get_delivery(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> Result<Json<DeliveryDetail>> {
    caller.require(Permission::WebhooksManage)?;
    let row = state
        .store
        .webhook_delivery(
            &caller.account_id,
            &found::<EndpointId>(&id)?,
            &found::<DeliveryId>(&delivery)?,
        )
        .await?
        .ok_or_else(|| Error::not_found("delivery"))?;
    let attempts = state.store.webhook_attempts(&row.id).await?;
    let request_body = row.payload.clone();
    Ok(Json(DeliveryDetail {
        delivery: row.into(),
        request_body,
        attempt_log: attempts.into_iter().map(Attempt::from).collect(),
    }))
}

/// Send a delivery again now, whatever became of it. Same event id, same body.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = Delivery), ErrorResponses), security(("api_key" = [])))]
pub(super) async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<Delivery>)> {
    caller.require(Permission::WebhooksManage)?;
    let row = redeliver_one(&state, &caller.account_id, &id, &delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

/// Queue a `webhook.test` event to this endpoint only; follow it in its deliveries.
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = Delivery), ErrorResponses), security(("api_key" = [])))]
pub(super) async fn send_test_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Delivery>)> {
    caller.require(Permission::WebhooksManage)?;
    let row = send_test(&state, &caller.account_id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}
