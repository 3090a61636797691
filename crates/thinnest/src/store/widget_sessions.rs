//! Widget sessions: a visitor's chat on a page, found by the hash of its token.

use super::{Store, StoreResult};
use crate::domain::ids::{AccountId, AgentId, ConversationId};
use crate::domain::time::now_ms;
use crate::domain::widget::{Visitor, WidgetSession};

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: String,
    account_id: String,
    agent_id: String,
    conversation_id: Option<String>,
    origin: String,
    user_id: Option<String>,
    user_name: Option<String>,
    user_email: Option<String>,
}

impl From<SessionRow> for WidgetSession {
    fn from(row: SessionRow) -> Self {
        WidgetSession {
            token_hash: row.token_hash,
            account_id: AccountId::from_stored(row.account_id),
            agent_id: AgentId::from_stored(row.agent_id),
            conversation_id: row.conversation_id.map(ConversationId::from_stored),
            origin: row.origin,
            visitor: Visitor {
                user_id: row.user_id,
                user_name: row.user_name,
                user_email: row.user_email,
                until: None,
            },
        }
    }
}

impl Store {
    /// A session without a conversation yet: that comes with its first message.
    pub async fn insert_widget_session(
        &self,
        token_hash: &str,
        account_id: &str,
        agent_id: &str,
        origin: &str,
        visitor: &Visitor,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO widget_sessions (token_hash, account_id, agent_id, origin, user_id, user_name, \
             user_email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(agent_id)
        .bind(origin)
        .bind(visitor.user_id.as_deref())
        .bind(visitor.user_name.as_deref())
        .bind(visitor.user_email.as_deref())
        .bind(now_ms())
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The live session with this token hash.
    pub async fn widget_session(&self, token_hash: &str) -> StoreResult<Option<WidgetSession>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT token_hash, account_id, agent_id, conversation_id, origin, user_id, user_name, \
             user_email FROM widget_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(WidgetSession::from))
    }
}
