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
use crate::domain::deliveries::{Delivery, DeliveryDetail};
use crate::domain::ids::{DeliveryId, EndpointId};
use crate::domain::roles::Permission;
use crate::error::{Error, Result};
use crate::services::webhooks::{redeliver_one, send_test};
use crate::state::AppState;

use super::find;

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<Delivery>,
    pub next_cursor: Option<String>,
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
    let (rows, next_cursor) = page.split(rows, |r| &r.delivery.id);
    Ok(Json(DeliveryPage {
        data: rows.into_iter().map(|r| r.delivery).collect(),
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
    let attempt_log = state.store.webhook_attempts(&row.delivery.id).await?;
    Ok(Json(DeliveryDetail {
        delivery: row.delivery,
        request_body: row.payload,
        attempt_log,
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
    Ok((StatusCode::ACCEPTED, Json(row)))
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
    Ok((StatusCode::ACCEPTED, Json(row)))
}
