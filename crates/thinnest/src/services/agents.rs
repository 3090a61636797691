//! Agents as the API and the dashboard look them up.

use crate::domain::ids::{AgentId, Id};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::agents::AgentRow;

/// The account's agent with this id, or not found (also for text of another shape).
pub async fn find_agent(state: &AppState, account_id: &str, id: &str) -> Result<AgentRow> {
    let id = AgentId::parse(id).ok_or_else(|| Error::not_found(AgentId::NOUN))?;
    state
        .store
        .get_agent(account_id, &id)
        .await?
        .ok_or_else(|| Error::not_found("agent"))
}
