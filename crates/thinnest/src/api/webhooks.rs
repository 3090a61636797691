//! `/webhooks`: the account's signing secret and its endpoints. Admins only.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::PageQuery;
use super::validate::Check;
use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::AppState;
use crate::auth::{Caller, Permission};
use crate::clock::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::ids::is_id;
use crate::store::audit::Actor;
use crate::store::outbox::{AttemptRow, DeliveryRow, Redelivery};
use crate::store::webhooks::{EndpointFields, EndpointRow};
use crate::webhooks::events::{Event, TestData, is_event_type};
use crate::webhooks::target::check_url;
use crate::webhooks::{seal_new, signing_secrets};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_signing_secret))
        .routes(routes!(rotate_signing_secret))
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
        .routes(routes!(send_test_event))
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
    let url = match check_url(url, state.config.webhooks.allow_private_webhook_targets) {
        Ok(url) => url.to_string(),
        Err(problem) => {
            check.fail("url", problem);
            String::new()
        }
    };
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
    check.text("description", description, 0, MAX_DESCRIPTION);
    let events = serde_json::to_string(&events).unwrap_or_default();
    (url, events)
}

fn endpoint_id(id: &str) -> Result<&str> {
    if is_id("wh", id) {
        Ok(id)
    } else {
        Err(Error::not_found("webhook endpoint"))
    }
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
        .webhook_endpoint(account_id, endpoint_id(id)?)
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

/// Changes the fields sent of an endpoint.
pub(crate) async fn update(
    state: &AppState,
    account_id: &str,
    actor: &Actor,
    id: &str,
    body: UpdateEndpoint,
) -> Result<EndpointRow> {
    let current = Endpoint::from(find_endpoint(state, account_id, id).await?);
    let mut check = Check::new();
    let url = body.url.unwrap_or(current.url);
    let events = body.events.unwrap_or(current.events);
    let description = body.description.unwrap_or(current.description);
    let (url, events) = check_fields(state, &mut check, &url, &events, &description);
    check.finish()?;
    let fields = EndpointFields {
        url: &url,
        events: &events,
        description: &description,
        enabled: body.enabled.unwrap_or(current.enabled),
    };
    state
        .store
        .update_webhook_endpoint(account_id, &current.id, &fields, actor)
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
        .delete_webhook_endpoint(&caller.account_id, endpoint_id(&id)?, &caller.actor())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("webhook endpoint"))
    }
}

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

fn delivery_id(id: &str) -> Result<&str> {
    if is_id("whd", id) {
        Ok(id)
    } else {
        Err(Error::not_found("delivery"))
    }
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = DeliveryPage), ErrorResponses), security(("api_key" = [])))]
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<DeliveryPage>> {
    caller.require(Permission::WebhooksManage)?;
    let page = query.checked("whd")?;
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
async fn get_delivery(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> Result<Json<DeliveryDetail>> {
    caller.require(Permission::WebhooksManage)?;
    let row = state
        .store
        .webhook_delivery(
            &caller.account_id,
            endpoint_id(&id)?,
            delivery_id(&delivery)?,
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

fn require_enabled(endpoint: &EndpointRow) -> Result<()> {
    if endpoint.enabled == 0 {
        return Err(Error::Conflict(
            "This endpoint is disabled; enable it (PATCH {\"enabled\": true}) first.".to_owned(),
        ));
    }
    Ok(())
}

/// Send a delivery again now, whatever became of it. Same event id, same body.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = Delivery), ErrorResponses), security(("api_key" = [])))]
async fn redeliver(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, delivery)): ApiPath<(String, String)>,
) -> Result<(StatusCode, Json<Delivery>)> {
    caller.require(Permission::WebhooksManage)?;
    let row = redeliver_one(&state, &caller.account_id, &id, &delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

/// Queues a delivery of an enabled endpoint again, now.
pub(crate) async fn redeliver_one(
    state: &AppState,
    account_id: &str,
    endpoint: &str,
    delivery: &str,
) -> Result<DeliveryRow> {
    let endpoint = find_endpoint(state, account_id, endpoint).await?;
    let delivery = delivery_id(delivery)?;
    require_enabled(&endpoint)?;
    match state
        .store
        .redeliver(account_id, &endpoint.id, delivery)
        .await?
    {
        Redelivery::Queued(row) => Ok(*row),
        Redelivery::NotFound => Err(Error::not_found("delivery")),
        Redelivery::InFlight => Err(Error::Conflict(
            "This delivery is being attempted right now; look at its log in a moment.".to_owned(),
        )),
    }
}

/// Queue a `webhook.test` event to this endpoint only; follow it in its deliveries.
#[utoipa::path(post, path = "/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 202, body = Delivery), ErrorResponses), security(("api_key" = [])))]
async fn send_test_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Delivery>)> {
    caller.require(Permission::WebhooksManage)?;
    let row = send_test(&state, &caller.account_id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(row.into())))
}

/// Queues a `webhook.test` event to one enabled endpoint.
pub(crate) async fn send_test(state: &AppState, account_id: &str, id: &str) -> Result<DeliveryRow> {
    let endpoint = find_endpoint(state, account_id, id).await?;
    require_enabled(&endpoint)?;
    let event = Event::WebhookTest(TestData {
        endpoint_id: endpoint.id.clone(),
        message: "A test event sent from thinnest.".to_owned(),
    });
    state
        .store
        .queue_test_event(account_id, &endpoint.id, &event)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("the test delivery vanished")))
}
