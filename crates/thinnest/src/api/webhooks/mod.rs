//! `/webhooks`: the account's signing secret and its endpoints. Admins only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiPath, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::ids::EndpointId;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::rfc3339;
use crate::domain::webhooks::{
    CreateEndpoint, DEFAULT_GRACE_SECONDS, Endpoint, SigningSecretBody, UpdateEndpoint,
};
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::services::webhooks::{create, find_endpoint, rotate, signing_secrets, update};
use crate::state::AppState;

mod deliveries;

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_signing_secret))
        .routes(routes!(rotate_signing_secret))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(deliveries::get_delivery))
        .routes(routes!(deliveries::redeliver))
        .routes(routes!(deliveries::send_test_event))
        .gated(state, Class::Other)
}

/// The longest grace period of a rotation: a week.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the previous secret keeps counting: 0 to 604800; default 86400.
    pub grace_seconds: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<Endpoint>,
}

/// The account's signing secret (made on first use).
#[utoipa::path(get, path = "/webhooks/signing-secret", tag = "webhooks",
    responses((status = 200, body = SigningSecretBody), ErrorResponses), security(("api_key" = [])))]
async fn get_signing_secret(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SigningSecretBody>> {
    caller.require(Permission::WebhooksManage)?;
    let secrets = signing_secrets(&state, &caller.account_id).await?;
    Ok(Json(SigningSecretBody {
        secret: secrets.current.expose().to_owned(),
        previous_expires_at: secrets.previous.map(|(_, until)| rfc3339(until)),
    }))
}

/// Replace the signing secret; the previous one keeps counting for `grace_seconds`.
#[utoipa::path(post, path = "/webhooks/signing-secret/rotate", tag = "webhooks",
    request_body(content = Option<RotateBody>),
    responses((status = 200, body = SigningSecretBody), ErrorResponses), security(("api_key" = [])))]
async fn rotate_signing_secret(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Option<ApiJson<Option<RotateBody>>>>,
) -> Result<Json<SigningSecretBody>> {
    caller.require(Permission::WebhooksManage)?;
    let grace = body?
        .and_then(|ApiJson(b)| b)
        .and_then(|b| b.grace_seconds)
        .unwrap_or(DEFAULT_GRACE_SECONDS);
    Ok(Json(
        rotate(&state, &caller.account_id, &caller.actor(), grace).await?,
    ))
}

/// Add an endpoint (at most 20 per account unless configured otherwise).
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateEndpoint,
    responses((status = 201, body = Endpoint), ErrorResponses), security(("api_key" = [])))]
async fn create_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreateEndpoint>>,
) -> Result<(StatusCode, Json<Endpoint>)> {
    caller.require(Permission::WebhooksManage)?;
    let ApiJson(body) = body?;
    let row = create(&state, &caller.account_id, &caller.actor(), body).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

/// The account's endpoints.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    responses((status = 200, body = EndpointList), ErrorResponses), security(("api_key" = [])))]
async fn list_endpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<EndpointList>> {
    caller.require(Permission::WebhooksManage)?;
    let rows = state.store.webhook_endpoints(&caller.account_id).await?;
    Ok(Json(EndpointList { data: rows }))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<Endpoint> {
    find_endpoint(state, &caller.account_id, id).await
}

/// One endpoint.
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = Endpoint), ErrorResponses), security(("api_key" = [])))]
async fn get_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Endpoint>> {
    caller.require(Permission::WebhooksManage)?;
    Ok(Json(find(&state, &caller, &id).await?))
}

/// Change an endpoint; only the fields sent change. Enabling it clears why it was disabled.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body = UpdateEndpoint,
    responses((status = 200, body = Endpoint), ErrorResponses), security(("api_key" = [])))]
async fn update_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<UpdateEndpoint>>,
) -> Result<Json<Endpoint>> {
    caller.require(Permission::WebhooksManage)?;
    let ApiJson(body) = body?;
    let row = update(&state, &caller.account_id, &caller.actor(), &id, body).await?;
    Ok(Json(row))
}

/// Delete an endpoint.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), ErrorResponses), security(("api_key" = [])))]
async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    caller.require(Permission::WebhooksManage)?;
    if state
        .store
        .delete_webhook_endpoint(
            &caller.account_id,
            &found::<EndpointId>(&id)?,
            &caller.actor(),
        )
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("webhook endpoint"))
    }
}
