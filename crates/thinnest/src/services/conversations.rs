//! Talking to an agent: what the API and the widget share.

use axum::http::StatusCode;

use crate::domain::agents::Agent;
use crate::domain::conversations::{Conversation, HISTORY, Message, Thread};
use crate::domain::ids::ConversationId;
use crate::error::{Error, Result};
use crate::responder::{Pieces, Prompt};
use crate::state::AppState;

/// The account's conversation with this id, or not found.
pub async fn find(state: &AppState, account_id: &str, id: &str) -> Result<Conversation> {
    state
        .store
        .conversation(account_id, id)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))
}

/// Has `agent` answer `message` in `thread` (one of its own); stores both and emits
/// the event. The id of the conversation the exchange joined (see
/// [`Store::add_exchange`](crate::store::Store::add_exchange)), and the reply.
pub async fn converse(
    state: &AppState,
    account_id: &str,
    agent: &Agent,
    thread: &Thread,
    message: &str,
    pieces: Option<Pieces<'_>>,
) -> Result<(ConversationId, Message)> {
    if thread.ended() {
        return Err(Error::Conflict(
            "This conversation has ended; start a new one.".to_owned(),
        ));
    }
    let knowledge = state.store.knowledge(account_id, &agent.id).await?;
    let history = match thread {
        Thread::New(_) => Vec::new(),
        Thread::Ongoing(conversation) => {
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
        .add_exchange(account_id, thread, message, &reply.content, reply.engine)
        .await?)
}
