//! The embedded chat widget's public side: `GET /embed.js`, `POST /widget/check`,
//! `POST /widget/sessions` and `GET|POST /widget/messages`. No API key: the agent id is
//! public. What stands between it and abuse: the agent's Allowed Origins (CORS headers
//! go only to them), visitors' identities vouched for by the customer's server (a hex
//! HMAC of the user id, keyed by the account's signing secret, or a JWT), short
//! sessions bound to agent, origin and visitor and held to the agent's current
//! settings on every request, and limits per client address and per agent that never
//! spend the account's API budget. A session's conversation is created with its first
//! message, so a page view that never chats leaves nothing behind.

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

use super::{ApiJson, ApiQuery, ErrorResponses, WidgetRefusals};
use crate::domain::agents::Agent;
use crate::domain::embed::{Embed, origin_allowed};
use crate::domain::ids::{AgentId, Id};
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::widget::{SESSION_MS, Visitor};
use crate::error::{Error, Result};
use crate::net::{Client, bucket_key};
use crate::ratelimit::seconds_until;
use crate::secrets::api_key::random_base62;
use crate::secrets::token::sha256_hex;
use crate::services::embed::settings;
use crate::state::AppState;
use crate::store::agents::OwnedAgent;

mod messages;
mod visitor;

pub use visitor::NewSession;
use visitor::{check_session, introduce};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check_visitor))
        .routes(routes!(create_session))
        .routes(routes!(messages::list_messages, messages::send_message))
        .routes(routes!(embed_js))
}

/// Adds the CORS preflight (`OPTIONS`) of the widget's endpoints.
pub fn with_preflights(router: axum::Router<AppState>) -> axum::Router<AppState> {
    router
        .route("/widget/check", axum::routing::options(preflight))
        .route("/widget/sessions", axum::routing::options(preflight))
        .route("/widget/messages", axum::routing::options(preflight))
}

static EMBED_JS: &str = include_str!("../../../static/embed.js");
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
    let Some(agent_id) = AgentId::parse(agent_id) else {
        return Ok(None);
    };
    Ok(state.store.agent_with_account(&agent_id).await?)
}

async fn agent_origin_allowed(state: &AppState, agent: &str, origin: &str) -> Result<bool> {
    let Some(found) = public_agent(state, agent).await? else {
        return Ok(false);
    };
    let embed = settings(&state.store, &found.account_id, agent).await?;
    Ok(origin_allowed(&embed.allowed_origins, origin))
}

/// Spends one unit of a widget budget, or says how long to wait.
async fn spend(state: &AppState, budget: String, per_minute: u32) -> Result<()> {
    match state.limiter.wait_for(&budget, per_minute).await {
        None => Ok(()),
        Some(wait_ms) => Err(Error::RateLimited(seconds_until(wait_ms))),
    }
}

async fn per_client(state: &AppState, client: &Client) -> Result<()> {
    let budget = bucket_key("widget-ip:", client.ip);
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

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetAgent {
    pub id: String,
    pub name: String,
    pub first_message: String,
}

impl From<Agent> for WidgetAgent {
    fn from(agent: Agent) -> Self {
        WidgetAgent {
            id: agent.id.into(),
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
    fn new(agent: Agent, visitor: Visitor) -> WidgetWelcome {
        WidgetWelcome {
            agent: agent.into(),
            user_id: visitor.user_id,
            user_name: visitor.user_name,
        }
    }
}

/// A session request from a page whose origin the agent allows.
struct Page {
    origin: String,
    account: String,
    agent: Agent,
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
    let embed = settings(&state.store, &account, &agent.id).await?;
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
        // The visitor is checked first: a page that cannot vouch for its visitor spends
        // nothing of the agent's budget, so forged sessions cannot use it up.
        let visitor = introduce(&state, &page).await?;
        let budget = format!("widget-agent:{}", page.agent.id);
        spend(
            &state,
            budget,
            state.config.agents.widget_sessions_per_agent,
        )
        .await?;
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
