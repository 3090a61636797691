//! Knowledge: the documents an agent answers from.

use super::{Backend, Store, StoreResult};
use crate::domain::ids::{AgentId, KnowledgeId};
use crate::domain::knowledge::{Document, Knowledge};
use crate::domain::time::{now_ms, rfc3339};

/// A document, as listed: its size instead of its text.
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    agent_id: String,
    title: String,
    /// The text's size in bytes.
    bytes: i64,
    created_at: i64,
}

impl From<EntryRow> for Knowledge {
    fn from(row: EntryRow) -> Self {
        Knowledge {
            id: KnowledgeId::from_stored(row.id),
            agent_id: AgentId::from_stored(row.agent_id),
            title: row.title,
            bytes: usize::try_from(row.bytes).unwrap_or_default(),
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct DocumentRow {
    id: String,
    title: String,
    text: String,
}

impl Store {
    /// Adds a document unless the agent's documents would then hold more than
    /// `max_chars` characters together (None). Concurrent additions cannot both slip
    /// under the cap: PostgreSQL locks the agent's row first; SQLite runs the one
    /// statement alone.
    pub async fn add_knowledge(
        &self,
        account_id: &str,
        agent_id: &str,
        title: &str,
        text: &str,
        max_chars: i64,
    ) -> StoreResult<Option<Knowledge>> {
        let mut tx = self.pool().begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT id FROM agents WHERE account_id = $1 AND id = $2 FOR UPDATE")
                .bind(account_id)
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
        let row: Option<EntryRow> = sqlx::query_as(
            "INSERT INTO knowledge (id, account_id, agent_id, title, text, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT COALESCE(SUM(LENGTH(text)), 0) \
             FROM knowledge WHERE account_id = $2 AND agent_id = $3) + $7 <= $8 \
             RETURNING id, agent_id, title, OCTET_LENGTH(text) AS bytes, created_at",
        )
        .bind(String::from(KnowledgeId::new()))
        .bind(account_id)
        .bind(agent_id)
        .bind(title)
        .bind(text)
        .bind(now_ms())
        .bind(i64::try_from(text.chars().count()).unwrap_or(i64::MAX))
        .bind(max_chars)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(Knowledge::from))
    }

    /// An agent's documents with their sizes, oldest first.
    pub async fn knowledge_entries(
        &self,
        account_id: &str,
        agent_id: &str,
    ) -> StoreResult<Vec<Knowledge>> {
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT id, agent_id, title, OCTET_LENGTH(text) AS bytes, created_at FROM knowledge \
             WHERE account_id = $1 AND agent_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Knowledge::from).collect())
    }

    /// An agent's knowledge with its texts, oldest first.
    pub async fn knowledge(&self, account_id: &str, agent_id: &str) -> StoreResult<Vec<Document>> {
        let rows: Vec<DocumentRow> = sqlx::query_as(
            "SELECT id, title, text FROM knowledge \
             WHERE account_id = $1 AND agent_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| Document {
                id: KnowledgeId::from_stored(row.id),
                title: row.title,
                text: row.text,
            })
            .collect())
    }

    pub async fn delete_knowledge(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM knowledge WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
