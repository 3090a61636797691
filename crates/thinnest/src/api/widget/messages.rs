//! `GET|POST /widget/messages`: a session's history, and a visitor's message answered.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{ApiJson, ApiQuery, ErrorResponses, WidgetRefusals};
use crate::domain::conversations::{Channel, Message, NewConversation, Thread, check_message};
use crate::domain::embed::{Embed, Verification, origin_allowed};
use crate::domain::fields::Check;
use crate::domain::ids::ConversationId;
use crate::domain::widget::{Visitor, WidgetSession};
use crate::error::{Error, Result};
use crate::net::Client;
use crate::secrets::token::sha256_hex;
use crate::services::conversations::{converse, find};
use crate::services::embed::settings;
use crate::state::AppState;

use super::{
    AgentParam, agent_origin_allowed, allow, origin_of, per_client, refused_origin, spend,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetMessage {
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetReply {
    /// The session's conversation, created with its first message.
    #[schema(value_type = String)]
    pub conversation_id: ConversationId,
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
    work: impl AsyncFnOnce(WidgetSession, Embed) -> Result<Response>,
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
        let embed = settings(&state.store, &session.account_id, &session.agent_id).await?;
        if !origin_allowed(&embed.allowed_origins, origin) {
            return Err(refused_origin());
        }
        readable = Some(origin.to_owned());
        if embed.identity_verification == Verification::Required
            && session.visitor.user_id.is_none()
        {
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
#[utoipa::path(post, path = "/widget/messages", tag = "widget", operation_id = "send_widget_message", params(AgentParam), request_body = WidgetMessage,
    responses((status = 200, body = WidgetReply), ErrorResponses, WidgetRefusals),
    security(("widget_session" = [])))]
pub(super) async fn send_message(
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
            _ => session.visitor.clone(),
        };
        let agent = state
            .store
            .get_agent(&session.account_id, &session.agent_id)
            .await?
            .ok_or_else(|| Error::not_found("agent"))?;
        let thread = match &session.conversation_id {
            Some(id) => Thread::Ongoing(find(&state, &session.account_id, id).await?),
            None => {
                let channel = Channel::Widget(&session.token_hash);
                let new = NewConversation::new(session.agent_id.clone(), channel, &visitor);
                Thread::New(new)
            }
        };
        let (conversation_id, reply) = converse(
            &state,
            &session.account_id,
            &agent,
            &thread,
            &body.message,
            None,
        )
        .await?;
        Ok(Json(WidgetReply {
            conversation_id,
            reply,
        })
        .into_response())
    })
    .await
}

/// The session's conversation so far: empty before its first message.
#[utoipa::path(get, path = "/widget/messages", tag = "widget", params(AgentParam),
    responses((status = 200, body = WidgetMessages), ErrorResponses, WidgetRefusals),
    security(("widget_session" = [])))]
pub(super) async fn list_messages(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    ApiQuery(param): ApiQuery<AgentParam>,
) -> Response {
    widget_answer(&state, &client, &headers, param, async |session, _| {
        let data = match &session.conversation_id {
            Some(id) => state.store.messages(id).await?,
            None => Vec::new(),
        };
        Ok(Json(WidgetMessages { data }).into_response())
    })
    .await
}
