//! `/conversations`: talk to an agent, over the API (the widget uses the same path).
//! A reply comes whole as JSON, or as server-sent events when the client asks for
//! `text/event-stream`.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::PageQuery;
use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::agents::Agent;
use crate::domain::conversations::{
    Channel, Conversation, ConversationDetail, Exchange, NewConversation, Thread, check_message,
};
use crate::domain::fields::Check;
use crate::domain::ids::{AgentId, ConversationId, Id};
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::widget::Visitor;
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::services::agents::find_agent;
use crate::services::conversations::{converse, find};
use crate::state::AppState;

/// The routes, behind the gate: each request spends the `conversation` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_message, list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(end_conversation))
        .gated(state, Class::Conversation)
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

/// The answer as server-sent events while the engine makes it: `delta` events with
/// pieces of the reply, then `done` with the whole exchange, or `error` with the body
/// the same error would have as a response.
fn stream(
    state: AppState,
    account: String,
    agent: Agent,
    thread: Thread,
    message: String,
) -> Response {
    let (events, received) = tokio::sync::mpsc::unbounded_channel::<SseEvent>();
    tokio::spawn(async move {
        let deltas = events.clone();
        let pieces = move |piece: &str| {
            let _ = deltas.send(SseEvent::default().event("delta").data(piece));
        };
        let answer = converse(&state, &account, &agent, &thread, &message, Some(&pieces)).await;
        let last = match answer {
            Ok((conversation_id, reply)) => {
                let exchange = Exchange {
                    conversation_id,
                    reply,
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
    let (agent, thread) = match &body.conversation_id {
        Some(id) => {
            let conversation = state
                .store
                .conversation(account, &found::<ConversationId>(id)?)
                .await?
                .filter(|c| *c.agent_id == body.agent_id)
                .ok_or_else(|| Error::not_found("conversation with that agent"))?;
            let agent = find_agent(&state, account, &conversation.agent_id).await?;
            (agent, Thread::Ongoing(conversation))
        }
        None => {
            let agent = find_agent(&state, account, &body.agent_id).await?;
            let agent_id = agent.id.clone();
            let new = NewConversation::new(agent_id, Channel::Api, &Visitor::default());
            (agent, Thread::New(new))
        }
    };
    if wants_stream(&headers) {
        return Ok(stream(state, account.clone(), agent, thread, body.message));
    }
    let (conversation_id, reply) =
        converse(&state, account, &agent, &thread, &body.message, None).await?;
    let exchange = Exchange {
        conversation_id,
        reply,
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
    let (data, next_cursor) = page.split(rows, |r| r.id.as_str());
    Ok(Json(ConversationPage { data, next_cursor }))
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
    let conversation = find(&state, &caller.account_id, &found::<ConversationId>(&id)?).await?;
    let messages = state.store.messages(&conversation.id).await?;
    Ok(Json(ConversationDetail {
        conversation,
        messages,
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
    let conversation = state
        .store
        .end_conversation(&caller.account_id, &found::<ConversationId>(&id)?)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))?;
    Ok(Json(conversation))
}
