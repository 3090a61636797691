//! Embed settings: an agent's Allowed Origins and identity verification.

use super::{Store, StoreError, StoreResult};
use crate::domain::embed::{Embed, Verification};
use crate::domain::time::now_ms;

#[derive(sqlx::FromRow)]
struct EmbedRow {
    /// A JSON array of origins.
    allowed_origins: String,
    identity_verification: String,
}

impl TryFrom<EmbedRow> for Embed {
    type Error = StoreError;

    /// Settings that cannot be read fail closed: an error, never "any origin".
    fn try_from(row: EmbedRow) -> StoreResult<Embed> {
        let allowed_origins = serde_json::from_str(&row.allowed_origins)
            .map_err(|e| StoreError::Unreadable(format!("unreadable allowed origins: {e}")))?;
        Ok(Embed {
            allowed_origins,
            identity_verification: Verification::parse(&row.identity_verification),
        })
    }
}

impl Store {
    /// An agent's embed settings; None when never set.
    pub async fn embed(&self, account_id: &str, agent_id: &str) -> StoreResult<Option<Embed>> {
        let row: Option<EmbedRow> = sqlx::query_as(
            "SELECT allowed_origins, identity_verification FROM agent_embeds \
             WHERE account_id = $1 AND agent_id = $2",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(Embed::try_from).transpose()
    }

    pub async fn set_embed(
        &self,
        account_id: &str,
        agent_id: &str,
        embed: &Embed,
    ) -> StoreResult<()> {
        let origins = serde_json::to_string(&embed.allowed_origins)
            .map_err(|e| StoreError::Unreadable(format!("allowed origins: {e}")))?;
        sqlx::query(
            "INSERT INTO agent_embeds (agent_id, account_id, allowed_origins, identity_verification, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id) DO UPDATE SET \
             allowed_origins = excluded.allowed_origins, \
             identity_verification = excluded.identity_verification, updated_at = excluded.updated_at",
        )
        .bind(agent_id)
        .bind(account_id)
        .bind(origins)
        .bind(embed.identity_verification.as_str())
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
