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
use crate::domain::actors::Actor;
use crate::domain::events::is_event_type;
use crate::domain::fields::Check;
use crate::domain::ids::EndpointId;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::services::webhooks::{seal_new, signing_secrets};
use crate::state::AppState;
use crate::store::webhooks::{EndpointChanges, EndpointFields, EndpointRow};
use crate::webhooks::target::check_url;

mod deliveries;

pub(crate) use deliveries::{redeliver_one, send_test};

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
pub(crate) const MAX_GRACE_SECONDS: u64 = 7 * 86_400;
const DEFAULT_GRACE_SECONDS: u64 = 86_400;
const MAX_DESCRIPTION: usize = 500;

/// No Debug: it holds the secret.
#[derive(Serialize, ToSchema)]
pub struct SigningSecretBody {
    /// `whsec_` and the base64 of 32 random bytes.
    pub secret: String,
    /// Set during a rotation's grace period: until then the previous secret also
    /// signs deliveries and verifies widget identities.
    pub previous_expires_at: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the previous secret keeps counting: 0 to 604800; default 86400.
    pub grace_seconds: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    /// `wh_…`
    pub id: String,
    pub url: String,
    /// Event types delivered here, or `["*"]` for all.
    pub events: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Why the server disabled it (a 410 answer, or failing for 3 days); null otherwise.
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<EndpointRow> for Endpoint {
    fn from(row: EndpointRow) -> Self {
        Endpoint {
            id: row.id,
            url: row.url,
            events: serde_json::from_str(&row.events).unwrap_or_default(),
            description: row.description,
            enabled: row.enabled != 0,
            disabled_reason: row.disabled_reason,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub data: Vec<Endpoint>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// https; http and private addresses only with `--allow-private-webhook-targets`.
    pub url: String,
    /// `["*"]` or event types from the catalogue.
    pub events: Vec<String>,
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
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

/// Replaces the account's signing secret; the previous one counts for `grace` seconds.
pub(crate) async fn rotate(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    grace: u64,
) -> Result<SigningSecretBody> {
    let mut check = Check::new();
    if grace > MAX_GRACE_SECONDS {
        check.fail("grace_seconds", "must be between 0 and 604800");
    }
    check.finish()?;
    let current = signing_secrets(state, account_id).await?;
    let (secret, sealed) = seal_new(state, account_id)?;
    let until = now_ms() + i64::try_from(grace * 1000).unwrap_or(i64::MAX);
    let rotated = state
        .store
        .rotate_webhook_secret(account_id, &current.current_sealed, &sealed, until, actor)
        .await?;
    if !rotated {
        return Err(Error::Conflict(
            "The signing secret was rotated by another request at the same moment; read it again."
                .to_owned(),
        ));
    }
    Ok(SigningSecretBody {
        secret: secret.expose().to_owned(),
        previous_expires_at: Some(rfc3339(until)),
    })
}

/// Checks an endpoint's fields; returns the URL and the events as stored.
fn check_fields(
    state: &AppState,
    check: &mut Check,
    url: &str,
    events: &[String],
    description: &str,
) -> (String, String) {
    let url = check_target(state, check, url);
    let events = check_events(check, events);
    check.text("description", description, 0, MAX_DESCRIPTION);
    (url, events)
}

/// Checks an endpoint's URL; returns it as stored.
fn check_target(state: &AppState, check: &mut Check, url: &str) -> String {
    match check_url(url, state.config.webhooks.allow_private_webhook_targets) {
        Ok(url) => url.to_string(),
        Err(problem) => {
            check.fail("url", problem);
            String::new()
        }
    }
}

/// Checks an endpoint's event types; returns them as stored: a sorted JSON array.
fn check_events(check: &mut Check, events: &[String]) -> String {
    let mut events: Vec<String> = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        check.fail("events", "must name at least one event type, or \"*\"");
    } else if events.iter().any(|e| e == "*") && events.len() > 1 {
        check.fail("events", "\"*\" already means every event type");
    } else if let Some(unknown) = events.iter().find(|e| *e != "*" && !is_event_type(e)) {
        check.fail(
            "events",
            format!("{unknown:?} is not an event type (see the catalogue)"),
        );
    }
    serde_json::to_string(&events).unwrap_or_default()
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
    Ok((StatusCode::CREATED, Json(row.into())))
}

/// Checks and adds an endpoint, within the account's limit.
pub(crate) async fn create(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    body: CreateEndpoint,
) -> Result<EndpointRow> {
    let mut check = Check::new();
    let description = body.description.unwrap_or_default();
    let (url, events) = check_fields(state, &mut check, &body.url, &body.events, &description);
    check.finish()?;
    let fields = EndpointFields {
        url: &url,
        events: &events,
        description: &description,
        enabled: body.enabled.unwrap_or(true),
    };
    let max = i64::from(state.config.webhooks.webhook_endpoint_limit);
    state
        .store
        .create_webhook_endpoint(account_id, &fields, max, actor)
        .await?
        .ok_or_else(|| {
            Error::Conflict(format!(
                "This account already has {max} webhook endpoints, the most it may have; delete one first."
            ))
        })
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
    Ok(Json(EndpointList {
        data: rows.into_iter().map(Endpoint::from).collect(),
    }))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<EndpointRow> {
    find_endpoint(state, &caller.account_id, id).await
}

/// The account's endpoint with this id, or not found.
pub(crate) async fn find_endpoint(
    state: &AppState,
    account_id: &str,
    id: &str,
) -> Result<EndpointRow> {
    state
        .store
        .webhook_endpoint(account_id, &found::<EndpointId>(id)?)
        .await?
        .ok_or_else(|| Error::not_found("webhook endpoint"))
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
    Ok(Json(find(&state, &caller, &id).await?.into()))
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
    Ok(Json(row.into()))
}

/// Changes the fields sent of an endpoint, and only those: concurrent changes of
/// other fields stay.
pub(crate) async fn update(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    id: &str,
    body: UpdateEndpoint,
) -> Result<EndpointRow> {
    // Not found before invalid, as ever; nothing read here is written back.
    let current = find_endpoint(state, account_id, id).await?;
    let mut check = Check::new();
    let url = body.url.map(|url| check_target(state, &mut check, &url));
    let events = body.events.map(|events| check_events(&mut check, &events));
    if let Some(description) = &body.description {
        check.text("description", description, 0, MAX_DESCRIPTION);
    }
    check.finish()?;
    let changes = EndpointChanges {
        url: url.as_deref(),
        events: events.as_deref(),
        description: body.description.as_deref(),
        enabled: body.enabled,
    };
    state
        .store
        .update_webhook_endpoint(account_id, &current.id, &changes, actor)
        .await?
        .ok_or_else(|| Error::not_found("webhook endpoint"))
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
