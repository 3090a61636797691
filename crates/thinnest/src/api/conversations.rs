//! `/conversations`: talk to an agent, over the API (the widget uses the same path).
//! A reply comes whole as JSON, or as server-sent events when the client asks for
//! `text/event-stream`.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::agents::find_agent;
use super::page::PageQuery;
use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::agents::Agent;
use crate::domain::fields::Check;
use crate::domain::ids::{AgentId, ConversationId, Id};
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::rfc3339;
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::responder::{Pieces, Prompt};
use crate::state::AppState;
use crate::store::conversations::{Channel, ConversationRow, MessageRow, Visitor};

/// The routes, behind the gate: each request spends the `conversation` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message, list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(end_conversation))
        .gated(state, Class::Conversation)
}

/// The longest message accepted.
pub const MAX_MESSAGE: usize = 4000;
/// Earlier messages an engine sees.
const HISTORY: usize = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// For assistant messages: `builtin` or `openai`.
    pub engine: Option<String>,
    pub created_at: String,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            role: row.role,
            content: row.content,
            engine: row.engine,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Conversation {
    /// `conv_…`
    pub id: String,
    pub agent_id: String,
    /// `api` or `widget`.
    pub channel: String,
    /// A widget visitor's user id, when the customer's server vouched for it.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub ended_at: Option<String>,
}

impl From<ConversationRow> for Conversation {
    fn from(row: ConversationRow) -> Self {
        Conversation {
            id: row.id,
            agent_id: row.agent_id,
            channel: row.channel,
            user_id: row.user_id,
            user_name: row.user_name,
            user_email: row.user_email,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            ended_at: row.ended_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<Message>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub data: Vec<Conversation>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    pub agent_id: String,
    /// 1 to 4000 characters.
    pub message: String,
    /// Continue this conversation; without it, a new one starts.
    pub conversation_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Exchange {
    pub conversation_id: String,
    pub reply: Message,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this agent's conversations.
    pub agent_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Checks a message's text.
pub fn check_message(check: &mut Check, message: &str) {
    check.text("message", message, 1, MAX_MESSAGE);
}

/// Has `agent` answer `message` in `conversation` (one of its own); stores both and
/// emits the event. The id of the conversation the exchange joined (see
/// [`Store::add_exchange`](crate::store::Store::add_exchange)), and the reply.
pub async fn converse(
    state: &AppState,
    account_id: &str,
    agent: &Agent,
    conversation: &ConversationRow,
    message: &str,
    pieces: Option<Pieces<'_>>,
) -> Result<(String, MessageRow)> {
    if conversation.ended_at.is_some() {
        return Err(Error::Conflict(
            "This conversation has ended; start a new one.".to_owned(),
        ));
    }
    let knowledge = state.store.knowledge(account_id, &agent.id).await?;
    let history = match conversation.unsaved {
        true => Vec::new(),
        false => {
            let limit = i64::try_from(HISTORY).unwrap_or(i64::MAX);
            state.store.recent_messages(&conversation.id, limit).await?
        }
    };
    let prompt = Prompt {
        agent,
        knowledge: &knowledge,
        history: &history,
        message,
    };
    let reply = state
        .engines
        .for_agent(agent)
        .reply(&prompt, pieces)
        .await
        .map_err(|e| {
            tracing::warn!(error = %format!("{e:#}"), "the agent's engine failed");
            Error::coded(
                StatusCode::BAD_GATEWAY,
                "engine_unavailable",
                "The agent's language model did not answer; try again shortly.",
            )
        })?;
    Ok(state
        .store
        .add_exchange(
            account_id,
            conversation,
            message,
            &reply.content,
            reply.engine,
        )
        .await?)
}

/// The answer as server-sent events while the engine makes it: `delta` events with
/// pieces of the reply, then `done` with the whole exchange, or `error` with the body
/// the same error would have as a response.
fn stream(
    state: AppState,
    account: String,
    agent: Agent,
    conversation: ConversationRow,
    message: String,
) -> Response {
    let (events, received) = tokio::sync::mpsc::unbounded_channel::<SseEvent>();
    tokio::spawn(async move {
        let deltas = events.clone();
        let pieces = move |piece: &str| {
            let _ = deltas.send(SseEvent::default().event("delta").data(piece));
        };
        let answer = converse(
            &state,
            &account,
            &agent,
            &conversation,
            &message,
            Some(&pieces),
        )
        .await;
        let last = match answer {
            Ok((conversation_id, reply)) => {
                let exchange = Exchange {
                    conversation_id,
                    reply: reply.into(),
                };
                SseEvent::default()
                    .event("done")
                    .data(serde_json::to_string(&exchange).unwrap_or_default())
            }
            Err(e) => {
                let (_, body) = e.status_and_body();
                SseEvent::default()
                    .event("error")
                    .data(serde_json::to_string(&body).unwrap_or_default())
            }
        };
        let _ = events.send(last);
    });
    let stream = futures_util::stream::unfold(received, |mut received| async move {
        received
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), received))
    });
    Sse::new(stream).into_response()
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Send a message to an agent and get its reply (JSON, or server-sent events with
/// `Accept: text/event-stream`).
#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = SendMessage,
    responses((status = 200, body = Exchange, description = "The reply; or `text/event-stream`: `delta` events, then `done` with this body"),
        (status = 502, description = "The agent's language model did not answer (`engine_unavailable`)"),
        ErrorResponses),
    security(("api_key" = [])))]
async fn send_message(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<ApiJson<SendMessage>>,
) -> Result<Response> {
    caller.require(Permission::AgentsWrite)?;
    let ApiJson(body) = body?;
    let mut check = Check::new();
    check_message(&mut check, &body.message);
    check.finish()?;
    let account = &caller.account_id;
    let (agent, conversation) = match &body.conversation_id {
        Some(id) => {
            let conversation = state
                .store
                .conversation(account, &found::<ConversationId>(id)?)
                .await?
                .filter(|c| c.agent_id == body.agent_id)
                .ok_or_else(|| Error::not_found("conversation with that agent"))?;
            let agent = find_agent(&state, account, &conversation.agent_id).await?;
            (agent, conversation)
        }
        None => {
            let agent = find_agent(&state, account, &body.agent_id).await?;
            let draft = ConversationRow::draft(&agent.id, Channel::Api, &Visitor::default());
            (agent, draft)
        }
    };
    if wants_stream(&headers) {
        return Ok(stream(
            state,
            account.clone(),
            agent,
            conversation,
            body.message,
        ));
    }
    let (conversation_id, reply) =
        converse(&state, account, &agent, &conversation, &body.message, None).await?;
    let exchange = Exchange {
        conversation_id,
        reply: reply.into(),
    };
    Ok(Json(exchange).into_response())
}

/// The account's conversations, newest first; `agent_id` narrows to one agent.
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ListQuery),
    responses((status = 200, body = ConversationPage), ErrorResponses), security(("api_key" = [])))]
async fn list_conversations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ConversationPage>> {
    caller.require(Permission::AgentsRead)?;
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = paging.checked::<ConversationId>()?;
    let agent = query.agent_id.unwrap_or_default();
    if !agent.is_empty() {
        if AgentId::parse(&agent).is_none() {
            let mut check = Check::new();
            check.fail("agent_id", "is not an agent id");
            check.finish()?;
        }
        // Another account's agent, or none: 404, as for its knowledge.
        find_agent(&state, &caller.account_id, &agent).await?;
    }
    let rows = state
        .store
        .conversations(&caller.account_id, &agent, page.before, page.fetch())
        .await?;
    let (rows, next_cursor) = page.split(rows, |r| &r.id);
    Ok(Json(ConversationPage {
        data: rows.into_iter().map(Conversation::from).collect(),
        next_cursor,
    }))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<ConversationRow> {
    state
        .store
        .conversation(&caller.account_id, &found::<ConversationId>(id)?)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))
}

/// One conversation with its messages.
#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = String, Path)),
    responses((status = 200, body = ConversationDetail), ErrorResponses), security(("api_key" = [])))]
async fn get_conversation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConversationDetail>> {
    caller.require(Permission::AgentsRead)?;
    let row = find(&state, &caller, &id).await?;
    let messages = state.store.messages(&row.id).await?;
    Ok(Json(ConversationDetail {
        conversation: row.into(),
        messages: messages.into_iter().map(Message::from).collect(),
    }))
}

/// End a conversation (emits `conversation.ended`); ending it again changes nothing.
#[utoipa::path(post, path = "/conversations/{id}/end", tag = "conversations", params(("id" = String, Path)),
    responses((status = 200, body = Conversation), ErrorResponses), security(("api_key" = [])))]
async fn end_conversation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Conversation>> {
    caller.require(Permission::AgentsWrite)?;
    let row = state
        .store
        .end_conversation(&caller.account_id, &found::<ConversationId>(&id)?)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))?;
    Ok(Json(row.into()))
}
