//! Agents as the API and the dashboard look them up.

use crate::domain::agents::Agent;
use crate::domain::ids::AgentId;
use crate::error::{Error, Result};
use crate::services::found;
use crate::state::AppState;

/// The account's agent with this id, or not found (also for text of another shape).
pub async fn find_agent(state: &AppState, account_id: &str, id: &str) -> Result<Agent> {
    state
        .store
        .get_agent(account_id, &found::<AgentId>(id)?)
        .await?
        .ok_or_else(|| Error::not_found("agent"))
}
