//! The embedded chat widget's public side: `GET /embed.js`, `POST /widget/check`,
//! `POST /widget/sessions` and `GET|POST /widget/messages`. No API key: the agent id is
//! public. What stands between it and abuse: the agent's Allowed Origins (CORS headers
//! go only to them), visitors' identities vouched for by the customer's server (a hex
//! HMAC of the user id, keyed by the account's signing secret, or a JWT), short
//! sessions bound to agent, origin and visitor and held to the agent's current
//! settings on every request, and limits per client address and per agent that never
//! spend the account's API budget. A session's conversation is created with its first
//! message, so a page view that never chats leaves nothing behind.

use std::fmt;
use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::conversations::{Message, check_message, converse};
use super::embed::{Embed, Verification, origin_allowed, settings};
use super::validate::Check;
use super::{ApiJson, ApiQuery, ErrorResponses, WidgetRefusals};
use crate::AppState;
use crate::auth::api_key::random_base62;
use crate::auth::token::sha256_hex;
use crate::clock::{now_ms, rfc3339};
use crate::error::{Error, Result};
use crate::ids::is_id;
use crate::net::{Client, client_bucket};
use crate::ratelimit::{Mode, seconds_until};
use crate::store::agents::{AgentRow, OwnedAgent};
use crate::store::conversations::{Channel, ConversationRow, Visitor, WidgetSessionRow};
use crate::webhooks::signing_secrets;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_visitor))
        .routes(routes!(create_session))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(embed_js))
}

/// Adds the CORS preflight (`OPTIONS`) of the widget's endpoints.
pub fn with_preflights(router: axum::Router<AppState>) -> axum::Router<AppState> {
    router
        .route("/widget/check", axum::routing::options(preflight))
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
/// always does), so only its allowed origins pass. They spend the client's widget
/// budget like any other widget request, since each one reads the database.
async fn preflight(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    param: Result<ApiQuery<AgentParam>>,
) -> Response {
    if let Err(e) = per_client(&state, &client).await {
        return e.into_response();
    }
    let Some(origin) = origin_of(&headers) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let agent = param
        .ok()
        .and_then(|ApiQuery(param)| param.agent_id)
        .unwrap_or_default();
    let allowed = agent_origin_allowed(&state, &agent, origin)
        .await
        .unwrap_or(false);
    if !allowed {
        return StatusCode::NO_CONTENT.into_response();
    }
    let mut response = allow(StatusCode::NO_CONTENT.into_response(), origin);
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

/// The agent with this id and its account, whatever the account: the widget's
/// requests name an agent, never an account.
async fn public_agent(state: &AppState, agent_id: &str) -> Result<Option<OwnedAgent>> {
    if !is_id("agent", agent_id) {
        return Ok(None);
    }
    Ok(state.store.agent_with_account(agent_id).await?)
}

async fn agent_origin_allowed(state: &AppState, agent: &str, origin: &str) -> Result<bool> {
    let Some(found) = public_agent(state, agent).await? else {
        return Ok(false);
    };
    let embed = settings(state, &found.account_id, agent).await?;
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

// Debug (below) hides the user hash and JWT.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub agent_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// Lowercase hex HMAC-SHA256 of `user_id`, keyed by the UTF-8 bytes of the
    /// account's signing secret string (`whsec_…`).
    pub user_hash: Option<String>,
    /// Instead of a hash: a JWT signed HS256 with the base64-decoded 32 bytes after
    /// `whsec_` (not the string that keys user hashes, so a hash is never a token's
    /// signature), with `sub` (the user id) and `exp` in the future, at most an hour
    /// ahead; `name` and `email` are optional.
    pub user_jwt: Option<String>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "…");
        f.debug_struct("NewSession")
            .field("agent_id", &self.agent_id)
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("user_email", &self.user_email)
            .field("user_hash", &hidden(&self.user_hash))
            .field("user_jwt", &hidden(&self.user_jwt))
            .finish()
    }
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
        "The user JWT is not valid: sign it HS256 with the base64-decoded part of the signing secret after whsec_, with sub and an exp at most an hour ahead.",
    )
}

/// The visitor a JWT names, if one of the secrets valid now signed it. The key is the
/// secret's Standard Webhooks key (its decoded bytes), never the string that keys user
/// hashes: otherwise a hash of an id shaped like `<header>.<payload>` would be a valid
/// token for any `sub`.
fn visitor_from_jwt(token: &str, secrets: &[&str]) -> Option<Visitor> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_aud = false;
    // No leeway: a session never starts already expired.
    validation.leeway = 0;
    let claims = secrets.iter().find_map(|secret| {
        let key = thinnestai::standard_key(secret).ok()?;
        decode::<VisitorClaims>(token, &DecodingKey::from_secret(&key), &validation)
            .ok()
            .map(|data| data.claims)
    })?;
    let now = now_ms() / 1000;
    let mut check = Check::new();
    check_identity(
        &mut check,
        Some(&claims.sub),
        claims.name.as_deref(),
        claims.email.as_deref(),
    );
    if claims.exp <= now || claims.exp - now > MAX_JWT_SECONDS || check.finish().is_err() {
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

impl From<AgentRow> for WidgetAgent {
    fn from(agent: AgentRow) -> Self {
        WidgetAgent {
            id: agent.id,
            name: agent.name,
            first_message: agent.first_message,
        }
    }
}

/// No Debug: it holds the session token.
#[derive(Serialize, ToSchema)]
pub struct Session {
    /// `Authorization: Bearer <session_token>` on `/widget/messages`. Shown once.
    pub session_token: String,
    pub expires_at: String,
    #[serde(flatten)]
    pub welcome: WidgetWelcome,
}

/// What a session would be, without one: the widget asks on page load and starts the
/// session when the visitor opens the chat.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetWelcome {
    pub agent: WidgetAgent,
    /// The verified user id; null for an anonymous visitor.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
}

impl WidgetWelcome {
    fn new(agent: AgentRow, visitor: Visitor) -> WidgetWelcome {
        WidgetWelcome {
            agent: agent.into(),
            user_id: visitor.user_id,
            user_name: visitor.user_name,
        }
    }
}

fn invalid_hash() -> Error {
    Error::coded(
        StatusCode::UNAUTHORIZED,
        "invalid_user_hash",
        "The user hash does not match the user id: compute it on your server with the signing secret.",
    )
}

/// Who the page says the visitor is: known when the hash or JWT verifies with a secret
/// valid now.
async fn introduce(state: &AppState, page: &Page) -> Result<Visitor> {
    let (verification, body) = (page.embed.identity_verification, &page.body);
    if verification == Verification::Off {
        return Ok(Visitor::default());
    }
    if body.user_hash.is_none() && body.user_jwt.is_none() {
        return match verification {
            Verification::Required => Err(invalid_hash()),
            _ => Ok(Visitor::default()),
        };
    }
    let secrets = signing_secrets(state, &page.account).await?;
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

/// A visitor's id, name and email, each when given: 1 to 256 characters, no NUL.
fn check_identity(
    check: &mut Check,
    user_id: Option<&str>,
    user_name: Option<&str>,
    user_email: Option<&str>,
) {
    for (field, value) in [
        ("user_id", user_id),
        ("user_name", user_name),
        ("user_email", user_email),
    ] {
        if let Some(value) = value {
            check.text(field, value, 1, MAX_USER_FIELD);
        }
    }
}

fn check_session(body: &NewSession) -> Result<()> {
    let mut check = Check::new();
    check_identity(
        &mut check,
        body.user_id.as_deref(),
        body.user_name.as_deref(),
        body.user_email.as_deref(),
    );
    if let Some(hash) = &body.user_hash {
        check.text("user_hash", hash, 1, MAX_USER_FIELD);
    }
    if let Some(token) = &body.user_jwt {
        check.text("user_jwt", token, 1, 4096);
    }
    check.finish()
}

/// A session request from a page whose origin the agent allows.
struct Page {
    origin: String,
    account: String,
    agent: AgentRow,
    embed: Embed,
    body: NewSession,
}

/// Runs `work` for a session request once the page's origin is allowed. Refusals
/// before that carry no CORS headers; after it, the page may read the answer.
async fn for_allowed_page(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    param: AgentParam,
    body: Result<ApiJson<NewSession>>,
    work: impl AsyncFnOnce(Page) -> Result<Response>,
) -> Result<Response> {
    per_client(state, client).await?;
    let origin = origin_of(headers).ok_or_else(refused_origin)?.to_owned();
    let ApiJson(body) = body?;
    if param.agent_id.as_ref().is_some_and(|a| *a != body.agent_id) {
        return Err(Error::coded(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "agent_id differs between the query and the body.",
        ));
    }
    let OwnedAgent {
        account_id: account,
        agent,
    } = public_agent(state, &body.agent_id)
        .await?
        .ok_or_else(|| Error::not_found("agent"))?;
    let embed = settings(state, &account, &agent.id).await?;
    if !origin_allowed(&embed.allowed_origins, &origin) {
        return Err(refused_origin());
    }
    let answer = async {
        check_session(&body)?;
        work(Page {
            origin: origin.clone(),
            account,
            agent,
            embed,
            body,
        })
        .await
    }
    .await;
    Ok(allow(
        answer.unwrap_or_else(IntoResponse::into_response),
        &origin,
    ))
}

/// Check that the widget may run for this visitor on this page, without starting a
/// session: the same checks and refusals as `POST /widget/sessions`, nothing stored.
#[utoipa::path(post, path = "/widget/check", tag = "widget", params(AgentParam), request_body = NewSession,
    responses((status = 200, body = WidgetWelcome), ErrorResponses, WidgetRefusals))]
async fn check_visitor(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiQuery(param): ApiQuery<AgentParam>,
    body: Result<ApiJson<NewSession>>,
) -> Result<Response> {
    for_allowed_page(&state, &client, &headers, param, body, async |page| {
        let visitor = introduce(&state, &page).await?;
        Ok(Json(WidgetWelcome::new(page.agent, visitor)).into_response())
    })
    .await
}

/// Start a widget session for a visitor of an allowed origin. Its conversation is
/// created with its first message.
#[utoipa::path(post, path = "/widget/sessions", tag = "widget", params(AgentParam), request_body = NewSession,
    responses((status = 201, body = Session), ErrorResponses, WidgetRefusals))]
async fn create_session(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiQuery(param): ApiQuery<AgentParam>,
    body: Result<ApiJson<NewSession>>,
) -> Result<Response> {
    for_allowed_page(&state, &client, &headers, param, body, async |page| {
        let budget = format!("widget-agent:{}", page.agent.id);
        spend(
            &state,
            budget,
            state.config.agents.widget_sessions_per_agent,
        )
        .await?;
        let visitor = introduce(&state, &page).await?;
        let token = format!("wst_{}", random_base62(40));
        // An hour, or less when the visitor's token expires sooner.
        let expires_at = (now_ms() + SESSION_MS).min(visitor.until.unwrap_or(i64::MAX));
        state
            .store
            .insert_widget_session(
                &sha256_hex(&token),
                &page.account,
                &page.agent.id,
                &page.origin,
                &visitor,
                expires_at,
            )
            .await?;
        let session = Session {
            session_token: token,
            expires_at: rfc3339(expires_at),
            welcome: WidgetWelcome::new(page.agent, visitor),
        };
        Ok((StatusCode::CREATED, Json(session)).into_response())
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetMessage {
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetReply {
    /// The session's conversation, created with its first message.
    pub conversation_id: String,
    pub reply: Message,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetMessages {
    pub data: Vec<Message>,
}

fn invalid_session(message: &str) -> Error {
    Error::coded(StatusCode::UNAUTHORIZED, "invalid_session", message)
}

/// The answer to a widget request, readable by the page when its origin may. The
/// session must be presented from its own origin, and is held to the agent's current
/// settings: an origin since removed from Allowed Origins is refused, and so is an
/// anonymous session once verification is required.
async fn widget_answer(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    param: AgentParam,
    work: impl AsyncFnOnce(WidgetSessionRow, Embed) -> Result<Response>,
) -> Response {
    let mut readable = None;
    let answer = async {
        per_client(state, client).await?;
        let origin = origin_of(headers).ok_or_else(refused_origin)?;
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let Some(session) = state.store.widget_session(&sha256_hex(token)).await? else {
            // The page may learn that it needs a new session when the agent it names
            // allows its origin.
            let agent = param.agent_id.as_deref().unwrap_or_default();
            if agent_origin_allowed(state, agent, origin).await? {
                readable = Some(origin.to_owned());
            }
            return Err(invalid_session(
                "The widget session is missing, unknown or expired: start a new one.",
            ));
        };
        if session.origin != origin {
            return Err(refused_origin());
        }
        let embed = settings(state, &session.account_id, &session.agent_id).await?;
        if !origin_allowed(&embed.allowed_origins, origin) {
            return Err(refused_origin());
        }
        readable = Some(origin.to_owned());
        if embed.identity_verification == Verification::Required && session.user_id.is_none() {
            return Err(invalid_session(
                "This agent now requires a verified visitor: start a new session.",
            ));
        }
        work(session, embed).await
    }
    .await;
    let response = answer.unwrap_or_else(IntoResponse::into_response);
    match readable {
        Some(origin) => allow(response, &origin),
        None => response,
    }
}

/// Send the visitor's message; the agent's reply comes back. The session's first
/// message creates its conversation.
#[utoipa::path(post, path = "/widget/messages", tag = "widget", params(AgentParam), request_body = WidgetMessage,
    responses((status = 200, body = WidgetReply), ErrorResponses, WidgetRefusals),
    security(("widget_session" = [])))]
async fn send_message(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiQuery(param): ApiQuery<AgentParam>,
    body: Result<ApiJson<WidgetMessage>>,
) -> Response {
    widget_answer(&state, &client, &headers, param, async |session, embed| {
        let ApiJson(body) = body?;
        let mut check = Check::new();
        check_message(&mut check, &body.message);
        check.finish()?;
        let budget = format!("widget-agent-messages:{}", session.agent_id);
        spend(
            &state,
            budget,
            state.config.agents.widget_messages_per_agent,
        )
        .await?;
        // With verification off, identity attributes are ignored.
        let visitor = match embed.identity_verification {
            Verification::Off => Visitor::default(),
            _ => session.visitor(),
        };
        let agent = state
            .store
            .get_agent(&session.account_id, &session.agent_id)
            .await?
            .ok_or_else(|| Error::not_found("agent"))?;
        let conversation = match &session.conversation_id {
            Some(id) => state
                .store
                .conversation(&session.account_id, id)
                .await?
                .ok_or_else(|| Error::not_found("conversation"))?,
            None => {
                ConversationRow::draft(&agent.id, Channel::Widget(&session.token_hash), &visitor)
            }
        };
        let (conversation_id, reply) = converse(
            &state,
            &session.account_id,
            &agent,
            &conversation,
            &body.message,
            None,
        )
        .await?;
        Ok(Json(WidgetReply {
            conversation_id,
            reply: reply.into(),
        })
        .into_response())
    })
    .await
}

/// The session's conversation so far: empty before its first message.
#[utoipa::path(get, path = "/widget/messages", tag = "widget", params(AgentParam),
    responses((status = 200, body = WidgetMessages), ErrorResponses, WidgetRefusals),
    security(("widget_session" = [])))]
async fn list_messages(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiQuery(param): ApiQuery<AgentParam>,
) -> Response {
    widget_answer(&state, &client, &headers, param, async |session, _| {
        let messages = match &session.conversation_id {
            Some(id) => state.store.messages(id).await?,
            None => Vec::new(),
        };
        Ok(Json(WidgetMessages {
            data: messages.into_iter().map(Message::from).collect(),
        })
        .into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::{NewSession, router};

    #[test]
    fn the_openapi_document_gives_the_widgets_own_refusals() {
        let (_, doc) = router().split_for_parts();
        let doc = serde_json::to_value(&doc).unwrap();
        for (path, method) in [
            ("/widget/check", "post"),
            ("/widget/sessions", "post"),
            ("/widget/messages", "post"),
            ("/widget/messages", "get"),
        ] {
            let responses = &doc["paths"][path][method]["responses"];
            let unauthorized = responses["401"]["description"].as_str().unwrap();
            assert!(
                unauthorized.contains("invalid_user_hash")
                    && unauthorized.contains("invalid_session"),
                "{path}: {unauthorized}"
            );
            let forbidden = responses["403"]["description"].as_str().unwrap();
            assert!(
                forbidden.contains("origin_not_allowed"),
                "{path}: {forbidden}"
            );
            assert!(responses["422"].is_object(), "{path}");
        }
    }

    #[test]
    fn a_session_request_shows_neither_its_hash_nor_its_token_in_debug() {
        let body: NewSession = serde_json::from_value(serde_json::json!({
            "agent_id": "agent_1",
            "user_id": "user_42",
            "user_hash": "5f0c1e",
            "user_jwt": "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        }))
        .unwrap();
        let shown = format!("{body:?}");
        assert!(shown.contains("user_42"), "{shown}");
        assert!(
            !shown.contains("5f0c1e") && !shown.contains("eyJ"),
            "{shown}"
        );
        let anonymous: NewSession =
            serde_json::from_value(serde_json::json!({"agent_id": "agent_1"})).unwrap();
        assert!(format!("{anonymous:?}").contains("user_hash: None"));
    }
}
