//! `/api-keys`: create (the secret is shown once), list, read, revoke and rotate.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::fields::Check;
use crate::domain::fields::TextField;
use crate::domain::ids::KeyId;
use crate::domain::keys::Key;
use crate::domain::keys::{ApiKeyInfo, KeyName, SecurityEvent};
use crate::domain::limits::Class;
use crate::domain::roles::Role;
use crate::domain::time::{now_ms, parse_rfc3339, rfc3339};
use crate::error::{Error, ErrorBody, Result};
use crate::gate::Gated;
use crate::secrets::api_key::ApiKey;
use crate::state::AppState;
use crate::store::api_keys::{NewKey, Rotated};

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(get_api_key, revoke_api_key))
        .routes(routes!(rotate_api_key))
        .gated(state, Class::Other)
}

/// The longest a rotated key may keep working: 7 days.
const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// A newly created key, with its secret. This is the only response that holds it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// The secret. Store it now: it is never shown again.
    #[serde(serialize_with = "expose_key")]
    #[schema(value_type = String)]
    pub key: ApiKey,
}

fn expose_key<S: serde::Serializer>(key: &ApiKey, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(key.expose())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDetail {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// The security events of this key that happened last, at most 20.
    pub security_events: Vec<SecurityEvent>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[schema(schema_with = KeyName::schema)]
    pub name: String,
    /// Default `admin`; never more than the caller's own role.
    pub role: Option<Role>,
    /// RFC 3339, in the future.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateApiKey {
    /// How long the old key keeps working, 0 (default) to 604800 seconds.
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<i64>,
}

/// A fresh secret and the row that stores its hash, made by the caller's key. Nobody
/// hands out a role above their own, nor a key that outlives the key making it.
fn mint<'a>(
    caller: &'a Caller,
    name: &'a str,
    role: Role,
    expires_at: Option<i64>,
) -> Result<(ApiKey, NewKey<'a>)> {
    if role > caller.role {
        return Err(Error::forbidden(format!(
            "A key with the {} role cannot create a key with the {} role.",
            caller.role.as_str(),
            role.as_str()
        )));
    }
    let expires_at = match (expires_at, caller.key_expires_at) {
        (Some(at), Some(limit)) => Some(at.min(limit)),
        (at, limit) => at.or(limit),
    };
    Ok(NewKey::mint(
        name,
        role,
        &caller.user_id,
        Some(&caller.key_id),
        expires_at,
    ))
}

/// The key making a key was revoked or rotated while the request ran.
fn maker_retired() -> Error {
    Error::Conflict(
        "The key making this request was revoked or rotated while it ran; nothing was made."
            .to_owned(),
    )
}

fn created(row: Key, key: ApiKey) -> (StatusCode, Json<CreatedApiKey>) {
    (
        StatusCode::CREATED,
        Json(CreatedApiKey {
            info: row.into(),
            key,
        }),
    )
}

/// Create an API key. The response holds the secret; it is never shown again.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), ErrorResponses), security(("api_key" = [])))]
async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreateApiKey>>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    caller.key_scope()?;
    let ApiJson(body) = body?;
    let mut check = Check::new();
    let name = body.name.trim();
    check.field::<KeyName>("name", name);
    let expires_at = match body.expires_at.as_deref().map(parse_rfc3339) {
        None => None,
        Some(None) => {
            check.fail(
                "expires_at",
                "must be an RFC 3339 timestamp such as 2030-01-31T00:00:00Z",
            );
            None
        }
        Some(Some(at)) if at <= now_ms() => {
            check.fail("expires_at", "must be in the future");
            None
        }
        Some(Some(at)) if caller.key_expires_at.is_some_and(|limit| at > limit) => {
            let limit = caller.key_expires_at.map(rfc3339).unwrap_or_default();
            check.fail(
                "expires_at",
                format!("must be no later than {limit}, when the key making it expires"),
            );
            None
        }
        Some(at) => at,
    };
    check.finish()?;
    let (secret, new) = mint(&caller, name, body.role.unwrap_or(caller.role), expires_at)?;
    let row = state
        .store
        .insert_key(&caller.account_id, &new, &caller.actor())
        .await?
        .ok_or_else(maker_retired)?;
    Ok(created(row, secret))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyListItem {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// How many security events the key has; `GET /api-keys/{id}` lists them.
    pub security_event_count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub data: Vec<ApiKeyListItem>,
}

/// List API keys, newest first: an Admin sees all of the account's; an Editor its own
/// key, its rotations and the keys they made, transitively.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys",
    responses((status = 200, body = ApiKeyList), ErrorResponses), security(("api_key" = [])))]
async fn list_api_keys(State(state): State<AppState>, caller: Caller) -> Result<Json<ApiKeyList>> {
    let rows = state
        .store
        .list_keys(&caller.account_id, caller.key_scope()?)
        .await?;
    let counts = state.store.key_event_counts(&caller.account_id).await?;
    let data = rows
        .into_iter()
        .map(|row| ApiKeyListItem {
            security_event_count: counts.get(&row.id).copied().unwrap_or(0),
            info: row.into(),
        })
        .collect();
    Ok(Json(ApiKeyList { data }))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<Key> {
    let scope = caller.key_scope()?;
    let id = found::<KeyId>(id)?;
    state
        .store
        .get_key(&caller.account_id, scope, &id)
        .await?
        .ok_or_else(|| Error::not_found("API key"))
}

/// Read one API key with its security events.
#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, body = ApiKeyDetail), ErrorResponses), security(("api_key" = [])))]
async fn get_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApiKeyDetail>> {
    let row = find(&state, &caller, &id).await?;
    let events = state.store.key_events(&caller.account_id, &row.id).await?;
    Ok(Json(ApiKeyDetail {
        info: row.into(),
        security_events: events,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RevokeQuery {
    /// Also revoke every key this key made, and the keys those made.
    pub cascade: Option<bool>,
}

/// A revoked key, and the keys revoked with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedApiKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    /// With `cascade=true`: the ids of the keys it made that were revoked with it.
    pub also_revoked: Vec<String>,
}

/// Revoke an API key (with `cascade=true`, also every key it made). It stops
/// working on the next request.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = String, Path), RevokeQuery),
    responses((status = 200, body = RevokedApiKey), ErrorResponses), security(("api_key" = [])))]
async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    query: Result<ApiQuery<RevokeQuery>>,
) -> Result<Json<RevokedApiKey>> {
    let target = find(&state, &caller, &id).await?;
    let ApiQuery(query) = query?;
    caller.may_act_on(&target)?;
    let also_revoked = state
        .store
        .revoke_key(
            &caller.account_id,
            &target.id,
            query.cascade.unwrap_or(false),
            &caller.actor(),
        )
        .await?;
    Ok(Json(RevokedApiKey {
        info: find(&state, &caller, &id).await?.into(),
        also_revoked,
    }))
}

const ROTATED_ALREADY: &str = "This key is revoked, expired or already rotated, so it cannot be rotated; rotate its replacement or create a new key.";

/// Rotate an API key: a new key with the same name, role and expiry; the old one
/// stops now or after `grace_seconds`. A key can be rotated once.
#[utoipa::path(post, path = "/api-keys/{id}/rotate", tag = "api-keys", params(("id" = String, Path)),
    request_body(content = Option<RotateApiKey>),
    responses((status = 201, body = CreatedApiKey), (status = 409, body = ErrorBody), ErrorResponses),
    security(("api_key" = [])))]
async fn rotate_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: Result<Option<ApiJson<Option<RotateApiKey>>>>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    let old = find(&state, &caller, &id).await?;
    caller.may_act_on(&old)?;
    let grace = body?
        .and_then(|ApiJson(b)| b)
        .and_then(|b| b.grace_seconds)
        .unwrap_or(0);
    let mut check = Check::new();
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        check.fail(
            "grace_seconds",
            format!("must be between 0 and {MAX_GRACE_SECONDS}"),
        );
    }
    check.finish()?;
    let (secret, mut new) = mint(&caller, &old.name, old.role, old.expires_at)?;
    // The replacement stays where the old key was: a rotation of what its maker made.
    new.created_by_key = old.created_by_key.as_deref();
    let ends_at = (grace > 0).then(|| now_ms() + grace * 1000);
    match state
        .store
        .rotate_key(
            &caller.account_id,
            &old,
            ends_at,
            &new,
            Some(&caller.key_id),
            &caller.actor(),
        )
        .await?
    {
        Rotated::Done(row) => Ok(created(*row, secret)),
        Rotated::AlreadyEnded => Err(Error::Conflict(ROTATED_ALREADY.to_owned())),
        Rotated::MakerRetired => Err(maker_retired()),
    }
}
