//! The embedded chat widget's public side: `GET /embed.js`, `POST /widget/sessions`
//! and `GET|POST /widget/messages`. No API key: the agent id is public. What stands
//! between it and abuse: the agent's Allowed Origins (CORS headers go only to them),
//! visitors' identities vouched for by the customer's server (a hex HMAC of the user
//! id, keyed by the account's signing secret), short sessions bound to agent, origin
//! and visitor, and limits per client address and per agent that never spend the
//! account's API budget.

use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::conversations::{Message, check_message, converse};
use super::embed::{Verification, origin_allowed, settings};
use super::validate::Check;
use super::{ApiJson, ApiQuery, ErrorResponses};
use crate::AppState;
use crate::auth::api_key::random_base62;
use crate::clock::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::ids::is_id;
use crate::net::{Client, client_bucket};
use crate::ratelimit::{Mode, seconds_until};
use crate::store::conversations::{Visitor, WidgetSessionRow};
use crate::webhooks::signing_secrets;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_session))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(embed_js))
}

/// Adds the CORS preflight (`OPTIONS`) of the widget's endpoints.
pub fn with_preflights(router: axum::Router<AppState>) -> axum::Router<AppState> {
    router
        .route("/widget/sessions", axum::routing::options(preflight))
        .route("/widget/messages", axum::routing::options(preflight))
}

/// How long a widget session lasts.
const SESSION_MS: i64 = 3_600_000;
const MAX_USER_FIELD: usize = 256;

static EMBED_JS: &str = include_str!("../../static/embed.js");
static EMBED_ETAG: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(EMBED_JS.as_bytes());
    format!("\"{}\"", hex::encode(&digest[..12]))
});

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Lets `origin` read the response.
fn allow(mut response: Response, origin: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(origin) {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

fn refused_origin() -> Error {
    Error::coded(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        "This agent's widget may not run on this site: add the page's origin to its Allowed Origins.",
    )
}

/// Answers CORS preflights. The agent is named in the query string (the script
/// always does), so only its allowed origins pass.
async fn preflight(State(state): State<AppState>, request: Request) -> Response {
    let Some(origin) = origin_of(request.headers()).map(str::to_owned) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let agent = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("agent_id=")))
        .unwrap_or_default()
        .to_owned();
    let allowed = agent_origin_allowed(&state, &agent, &origin)
        .await
        .unwrap_or(false);
    if !allowed {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut response = allow(StatusCode::NO_CONTENT.into_response(), &origin);
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

async fn agent_origin_allowed(state: &AppState, agent: &str, origin: &str) -> Result<bool> {
    if !is_id("agent", agent) {
        return Ok(false);
    }
    let Some(account) = state.store.agent_account(agent).await? else {
        return Ok(false);
    };
    let embed = settings(state, &account, agent).await?;
    Ok(origin_allowed(&embed.allowed_origins, origin))
}

/// Spends one unit of a widget budget, or says how long to wait.
async fn spend(state: &AppState, budget: String, per_minute: u32) -> Result<()> {
    let decision = state.limiter.decide(&budget, per_minute, Mode::Take).await;
    if decision.allowed {
        Ok(())
    } else {
        Err(Error::RateLimited(seconds_until(decision.reset_ms)))
    }
}

async fn per_client(state: &AppState, client: &Client) -> Result<()> {
    let budget = format!("widget-ip:{}", client_bucket(client.ip));
    spend(state, budget, state.config.agents.widget_requests_per_ip).await
}

/// The widget script.
#[utoipa::path(get, path = "/embed.js", tag = "widget",
    responses((status = 200, description = "The widget script", content_type = "application/javascript"),
        (status = 304, description = "Not modified (ETag)")))]
async fn embed_js(headers: HeaderMap) -> Response {
    let etag = EMBED_ETAG.as_str();
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let common = [
        (header::ETAG, etag.to_owned()),
        (header::CACHE_CONTROL, "public, max-age=300".to_owned()),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8".to_owned(),
        )],
        EMBED_JS,
    )
        .into_response()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentParam {
    /// The agent again, so that the browser's preflight can be answered.
    pub agent_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub agent_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// Lowercase hex HMAC-SHA256 of `user_id`, keyed by the account's signing secret.
    pub user_hash: Option<String>,
    /// Instead of a hash: a JWT signed HS256 with the signing secret, with `sub` (the
    /// user id) and `exp` at most an hour ahead; `name` and `email` are optional.
    pub user_jwt: Option<String>,
}

/// The claims of a visitor's JWT.
#[derive(Debug, Deserialize)]
struct VisitorClaims {
    sub: String,
    exp: i64,
    name: Option<String>,
    email: Option<String>,
}

/// The longest a visitor's JWT may live: a leaked one soon stops working.
const MAX_JWT_SECONDS: i64 = 3600;

fn invalid_token() -> Error {
    Error::coded(
        StatusCode::UNAUTHORIZED,
        "invalid_user_token",
        "The user JWT is not valid: sign it HS256 with the signing secret, with sub and an exp at most an hour ahead.",
    )
}

/// The visitor a JWT names, if one of the secrets valid now signed it.
fn visitor_from_jwt(token: &str, secrets: &[&str]) -> Option<Visitor> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_aud = false;
    validation.leeway = 30;
    let claims = secrets.iter().find_map(|secret| {
        decode::<VisitorClaims>(
            token,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .ok()
        .map(|data| data.claims)
    })?;
    let now = now_ms() / 1000;
    let fits =
        |text: &str| !text.is_empty() && text.len() <= MAX_USER_FIELD && !text.contains('\0');
    if claims.exp - now > MAX_JWT_SECONDS
        || !fits(&claims.sub)
        || !claims.name.as_deref().is_none_or(fits)
        || !claims.email.as_deref().is_none_or(fits)
    {
        return None;
    }
    Some(Visitor {
        user_id: Some(claims.sub),
        user_name: claims.name,
        user_email: claims.email,
        until: Some(claims.exp * 1000),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetAgent {
    pub id: String,
    pub name: String,
    pub first_message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    /// `Authorization: Bearer <session_token>` on `/widget/messages`. Shown once.
    pub session_token: String,
    pub expires_at: String,
    pub conversation_id: String,
    pub agent: WidgetAgent,
    /// The verified user id; null for an anonymous visitor.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
}

fn invalid_hash() -> Error {
    Error::coded(
        StatusCode::UNAUTHORIZED,
        "invalid_user_hash",
        "The user hash does not match the user id: compute it on your server with the signing secret.",
    )
}

/// Who the visitor is: known when the hash verifies with a secret valid now.
async fn visitor(
    state: &AppState,
    account: &str,
    verification: Verification,
    body: &NewSession,
) -> Result<Visitor> {
    if verification == Verification::Off {
        return Ok(Visitor::default());
    }
    let secrets = signing_secrets(state, account).await?;
    let mut valid = vec![secrets.current.expose()];
    if let Some((previous, _)) = &secrets.previous {
        valid.push(previous.expose());
    }
    if let Some(token) = &body.user_jwt {
        return match visitor_from_jwt(token, &valid) {
            Some(visitor) => Ok(visitor),
            None if verification == Verification::Required => Err(invalid_token()),
            None => Ok(Visitor::default()),
        };
    }
    let verified = match (&body.user_id, &body.user_hash) {
        (Some(user_id), Some(hash)) => valid
            .iter()
            .any(|secret| thinnestai::verify_hex(user_id.as_bytes(), hash, secret).is_ok()),
        _ => false,
    };
    match (verified, verification) {
        (true, _) => Ok(Visitor {
            user_id: body.user_id.clone(),
            user_name: body.user_name.clone(),
            user_email: body.user_email.clone(),
            until: None,
        }),
        (false, Verification::Required) => Err(invalid_hash()),
        (false, _) => Ok(Visitor::default()),
    }
}

fn check_session(body: &NewSession) -> Result<()> {
    let mut check = Check::new();
    for (field, value) in [
        ("user_id", &body.user_id),
        ("user_name", &body.user_name),
        ("user_email", &body.user_email),
        ("user_hash", &body.user_hash),
    ] {
        if let Some(value) = value {
            check.text(field, value, 1, MAX_USER_FIELD);
        }
    }
    if let Some(token) = &body.user_jwt {
        check.text("user_jwt", token, 1, 4096);
    }
    // A user id shaped like a webhook body would make its hash a webhook signature.
    if body
        .user_id
        .as_deref()
        .is_some_and(|id| id.trim_start().starts_with('{'))
    {
        check.fail("user_id", "must not start with {");
    }
    check.finish()
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Start a widget session for a visitor of an allowed origin.
#[utoipa::path(post, path = "/widget/sessions", tag = "widget", params(AgentParam), request_body = NewSession,
    responses((status = 201, body = Session),
        (status = 401, description = "`invalid_user_hash`: verification is required and the hash is missing or wrong"),
        (status = 403, description = "`origin_not_allowed`: the page's origin is not among the agent's Allowed Origins"),
        ErrorResponses))]
async fn create_session(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiQuery(param): ApiQuery<AgentParam>,
    body: Result<ApiJson<NewSession>>,
) -> Result<Response> {
    per_client(&state, &client).await?;
    let origin = origin_of(&headers).ok_or_else(refused_origin)?.to_owned();
    let ApiJson(body) = body?;
    if param.agent_id.as_ref().is_some_and(|a| *a != body.agent_id) {
        return Err(Error::coded(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "agent_id differs between the query and the body.",
        ));
    }
    let agent_id = &body.agent_id;
    let account = match is_id("agent", agent_id) {
        true => state.store.agent_account(agent_id).await?,
        false => None,
    }
    .ok_or_else(|| Error::not_found("agent"))?;
    let embed = settings(&state, &account, agent_id).await?;
    if !origin_allowed(&embed.allowed_origins, &origin) {
        return Err(refused_origin());
    }
    // From here on the page may read the answer, refusals included.
    let answer = async {
        check_session(&body)?;
        let budget = format!("widget-agent:{agent_id}");
        spend(
            &state,
            budget,
            state.config.agents.widget_sessions_per_agent,
        )
        .await?;
        let visitor = visitor(&state, &account, embed.identity_verification, &body).await?;
        let agent = state
            .store
            .get_agent(&account, agent_id)
            .await?
            .ok_or_else(|| Error::not_found("agent"))?;
        let conversation = state
            .store
            .create_conversation(&account, agent_id, "widget", &visitor)
            .await?;
        let token = format!("wst_{}", random_base62(40));
        // An hour, or less when the visitor's token expires sooner.
        let expires_at = (now_ms() + SESSION_MS).min(visitor.until.unwrap_or(i64::MAX));
        state
            .store
            .insert_widget_session(
                &token_hash(&token),
                &account,
                agent_id,
                &conversation.id,
                &origin,
                expires_at,
            )
            .await?;
        let session = Session {
            session_token: token,
            expires_at: rfc3339(expires_at),
            conversation_id: conversation.id,
            agent: WidgetAgent {
                id: agent.id,
                name: agent.name,
                first_message: agent.first_message,
            },
            user_id: visitor.user_id,
            user_name: visitor.user_name,
        };
        Ok::<_, Error>((StatusCode::CREATED, Json(session)).into_response())
    }
    .await;
    Ok(allow(
        answer.unwrap_or_else(IntoResponse::into_response),
        &origin,
    ))
}

/// The session a widget request presents, checked against the request's origin.
async fn session_of(state: &AppState, headers: &HeaderMap) -> Result<(WidgetSessionRow, String)> {
    let origin = origin_of(headers).ok_or_else(refused_origin)?.to_owned();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let session = state
        .store
        .widget_session(&token_hash(token))
        .await?
        .ok_or_else(|| {
            Error::coded(
                StatusCode::UNAUTHORIZED,
                "invalid_session",
                "The widget session is missing, unknown or expired: start a new one.",
            )
        })?;
    if session.origin != origin {
        return Err(refused_origin());
    }
    Ok((session, origin))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetMessage {
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetReply {
    pub reply: Message,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetMessages {
    pub data: Vec<Message>,
}

/// The answer to a widget request, readable by the page when its origin may.
async fn widget_answer(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    work: impl AsyncFnOnce(WidgetSessionRow) -> Result<Response>,
) -> Response {
    let mut matched = None;
    let answer = match per_client(state, client).await {
        Err(e) => Err(e),
        Ok(()) => match session_of(state, headers).await {
            Err(e) => Err(e),
            Ok((session, origin)) => {
                matched = Some(origin);
                work(session).await
            }
        },
    };
    let response = answer.unwrap_or_else(IntoResponse::into_response);
    // Only the session's own origin may read the answer.
    match matched {
        Some(origin) => allow(response, &origin),
        None => response,
    }
}

/// Send the visitor's message; the agent's reply comes back.
#[utoipa::path(post, path = "/widget/messages", tag = "widget", request_body = WidgetMessage,
    responses((status = 200, body = WidgetReply), ErrorResponses), security(("widget_session" = [])))]
async fn send_message(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    body: Result<ApiJson<WidgetMessage>>,
) -> Response {
    widget_answer(&state, &client, &headers, async |session| {
        let ApiJson(body) = body?;
        let mut check = Check::new();
        check_message(&mut check, &body.message);
        check.finish()?;
        let conversation = state
            .store
            .conversation(&session.account_id, &session.conversation_id)
            .await?
            .ok_or_else(|| Error::not_found("conversation"))?;
        let reply = converse(
            &state,
            &session.account_id,
            &conversation,
            &body.message,
            None,
        )
        .await?;
        Ok(Json(WidgetReply {
            reply: reply.into(),
        })
        .into_response())
    })
    .await
}

/// The session's conversation so far.
#[utoipa::path(get, path = "/widget/messages", tag = "widget",
    responses((status = 200, body = WidgetMessages), ErrorResponses), security(("widget_session" = [])))]
async fn list_messages(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    widget_answer(&state, &client, &headers, async |session| {
        let messages = state.store.messages(&session.conversation_id).await?;
        Ok(Json(WidgetMessages {
            data: messages.into_iter().map(Message::from).collect(),
        })
        .into_response())
    })
    .await
}
