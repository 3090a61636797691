//! Agents.

use super::Store;
use super::outbox::publish;
use super::reads::ReadRow;
use super::{StoreError, StoreResult};
use crate::domain::agents::{Agent, AgentChanges, NewAgent, Voice};
use crate::domain::events::{Deleted, Event};
use crate::domain::ids::AgentId;
use crate::domain::time::{now_ms, rfc3339};

/// An agent's row; the store answers with [`Agent`]s.
#[derive(Debug, Clone, sqlx::FromRow)]
struct AgentRow {
    id: String,
    name: String,
    description: String,
    instructions: String,
    first_message: String,
    model: String,
    /// Voice settings as JSON text.
    voice: String,
    created_at: i64,
    updated_at: i64,
}

impl AgentRow {
    /// The row from [`agent_columns`]' columns, starting at column `at`.
    fn from_sqlite_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<AgentRow> {
        Ok(AgentRow {
            id: row.get(at)?,
            name: row.get(at + 1)?,
            description: row.get(at + 2)?,
            instructions: row.get(at + 3)?,
            first_message: row.get(at + 4)?,
            model: row.get(at + 5)?,
            voice: row.get(at + 6)?,
            created_at: row.get(at + 7)?,
            updated_at: row.get(at + 8)?,
        })
    }
}

impl ReadRow for AgentRow {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRow> {
        AgentRow::from_sqlite_at(row, 0)
    }
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;

    fn try_from(row: AgentRow) -> StoreResult<Agent> {
        let voice = serde_json::from_str(&row.voice).map_err(|e| {
            StoreError::Unreadable(format!(
                "agent {} has unreadable voice settings: {e}",
                row.id
            ))
        })?;
        Ok(Agent {
            id: AgentId::from_stored(row.id),
            name: row.name,
            description: row.description,
            instructions: row.instructions,
            first_message: row.first_message,
            model: row.model,
            voice,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct OwnedAgentRow {
    account_id: String,
    #[sqlx(flatten)]
    agent: AgentRow,
}

impl ReadRow for OwnedAgentRow {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<OwnedAgentRow> {
        Ok(OwnedAgentRow {
            account_id: row.get(0)?,
            agent: AgentRow::from_sqlite_at(row, 1)?,
        })
    }
}

/// An agent with the account it belongs to, found by its id alone.
#[derive(Debug, Clone)]
pub struct OwnedAgent {
    pub account_id: String,
    pub agent: Agent,
}

/// Voice settings as stored: JSON text.
fn voice_json(voice: &Voice) -> StoreResult<String> {
    serde_json::to_string(voice).map_err(|e| StoreError::Unreadable(e.to_string()))
}

/// An agent's columns, in the order [`AgentRow::from_sqlite_at`] reads them.
macro_rules! agent_columns {
    () => {
        "id, name, description, instructions, first_message, model, voice, created_at, updated_at"
    };
}

impl Store {
    pub async fn insert_agent(&self, account_id: &str, f: &NewAgent) -> StoreResult<Agent> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let row: AgentRow = sqlx::query_as(concat!(
            "INSERT INTO agents (id, account_id, name, description, instructions, first_message, model, voice, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING ", agent_columns!()
        ))
        .bind(String::from(AgentId::new()))
        .bind(account_id)
        .bind(&f.name)
        .bind(&f.description)
        .bind(&f.instructions)
        .bind(&f.first_message)
        .bind(&f.model)
        .bind(voice_json(&f.voice)?)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let agent = Agent::try_from(row)?;
        publish(&mut tx, account_id, &Event::AgentCreated(agent.clone())).await?;
        self.commit_events(tx).await?;
        Ok(agent)
    }

    /// Newest first; `before` is the id of the last agent of the previous page.
    pub async fn list_agents(
        &self,
        account_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Agent>> {
        let sql = concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC"
        );
        let args = [account_id, before.unwrap_or("")];
        let rows: Vec<AgentRow> = self.read_page(sql, &args, limit).await?;
        rows.into_iter().map(Agent::try_from).collect()
    }

    /// Like [`Store::list_agents`], of the agents whose names contain `text`, in any
    /// case as the database folds it (both sides alike: ASCII letters on SQLite).
    pub async fn search_agents(
        &self,
        account_id: &str,
        text: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Agent>> {
        let sql = concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 AND ($2 = '' OR id < $2) \
             AND lower(name) LIKE lower($3) ESCAPE '!' ORDER BY id DESC"
        );
        let mut pattern = String::from("%");
        for c in text.chars() {
            if matches!(c, '%' | '_' | '!') {
                pattern.push('!');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let args = [account_id, before.unwrap_or(""), pattern.as_str()];
        let rows: Vec<AgentRow> = self.read_page(sql, &args, limit).await?;
        rows.into_iter().map(Agent::try_from).collect()
    }

    pub async fn get_agent(&self, account_id: &str, id: &str) -> StoreResult<Option<Agent>> {
        let sql = concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 AND id = $2"
        );
        let row: Option<AgentRow> = self.read_one(sql, &[account_id, id]).await?;
        row.map(Agent::try_from).transpose()
    }

    /// An agent and its account, for the public widget endpoints, which name an agent
    /// but no account.
    pub async fn agent_with_account(&self, id: &str) -> StoreResult<Option<OwnedAgent>> {
        let sql = concat!(
            "SELECT account_id, ",
            agent_columns!(),
            " FROM agents WHERE id = $1"
        );
        let row: Option<OwnedAgentRow> = self.read_one(sql, &[id]).await?;
        row.map(|row| {
            Ok(OwnedAgent {
                account_id: row.account_id,
                agent: row.agent.try_into()?,
            })
        })
        .transpose()
    }

    /// Changes the fields given and nothing else, in the UPDATE itself (an absent field
    /// binds NULL and keeps its column), so that concurrent changes of different fields
    /// all stay; the event carries the agent as it is after this change.
    pub async fn update_agent(
        &self,
        account_id: &str,
        id: &str,
        f: &AgentChanges,
    ) -> StoreResult<Option<Agent>> {
        let voice = f.voice.as_ref().map(voice_json).transpose()?;
        let mut tx = self.pool().begin().await?;
        let row: Option<AgentRow> = sqlx::query_as(concat!(
            "UPDATE agents SET name = COALESCE($3, name), description = COALESCE($4, description), \
             instructions = COALESCE($5, instructions), first_message = COALESCE($6, first_message), \
             model = COALESCE($7, model), voice = COALESCE($8, voice), updated_at = $9 \
             WHERE account_id = $1 AND id = $2 RETURNING ",
            agent_columns!()
        ))
        .bind(account_id)
        .bind(id)
        .bind(f.name.as_deref())
        .bind(f.description.as_deref())
        .bind(f.instructions.as_deref())
        .bind(f.first_message.as_deref())
        .bind(f.model.as_deref())
        .bind(voice.as_deref())
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let agent = row.map(Agent::try_from).transpose()?;
        if let Some(agent) = &agent {
            publish(&mut tx, account_id, &Event::AgentUpdated(agent.clone())).await?;
        }
        self.commit_events(tx).await?;
        Ok(agent)
    }

    /// True when an agent was deleted.
    pub async fn delete_agent(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM agents WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = done.rows_affected() > 0;
        if deleted {
            let event = Event::AgentDeleted(Deleted {
                id: id.to_owned(),
                deleted: true,
            });
            publish(&mut tx, account_id, &event).await?;
        }
        self.commit_events(tx).await?;
        Ok(deleted)
    }
}
