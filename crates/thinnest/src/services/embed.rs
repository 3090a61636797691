//! An agent's embed settings, as the API and the dashboard read and change them.

use crate::domain::embed::Embed;
use crate::error::Result;
use crate::store::Store;

/// An agent's embed settings (defaults when never set).
pub async fn settings(store: &Store, account_id: &str, agent_id: &str) -> Result<Embed> {
    Ok(store.embed(account_id, agent_id).await?.unwrap_or_default())
}

/// Checks, normalises and stores an agent's embed settings; the settings stored.
pub async fn save(store: &Store, account_id: &str, agent_id: &str, sent: Embed) -> Result<Embed> {
    let embed = sent.checked()?;
    store.set_embed(account_id, agent_id, &embed).await?;
    Ok(embed)
}
