//! Agents.

use super::Store;
use super::outbox::publish;
use super::{StoreError, StoreResult};
use crate::api::agents::Agent;
use crate::domain::events::{Deleted, Event};
use crate::domain::ids::AgentId;
use crate::domain::time::now_ms;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub first_message: String,
    pub model: String,
    /// Voice settings as JSON text.
    pub voice: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An agent with the account it belongs to, found by its id alone.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OwnedAgent {
    pub account_id: String,
    #[sqlx(flatten)]
    pub agent: AgentRow,
}

/// The editable fields of an agent.
#[derive(Debug, Clone)]
pub struct AgentFields {
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub first_message: String,
    pub model: String,
    pub voice: String,
}

/// The fields a change gives, as stored; `None` leaves that column as it is.
#[derive(Debug, Clone)]
pub struct AgentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub instructions: Option<String>,
    pub first_message: Option<String>,
    pub model: Option<String>,
    pub voice: Option<String>,
}

macro_rules! agent_columns {
    () => {
        "id, name, description, instructions, first_message, model, voice, created_at, updated_at"
    };
}

/// The event of an agent's change, with the agent as the API shows it.
fn agent_event(make: fn(Agent) -> Event, row: &AgentRow) -> StoreResult<Event> {
    Agent::try_from(row.clone())
        .map(make)
        .map_err(|e| StoreError::Unreadable(format!("{e:?}")))
}

impl Store {
    pub async fn insert_agent(&self, account_id: &str, f: &AgentFields) -> StoreResult<AgentRow> {
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
        .bind(&f.voice)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        publish(
            &mut tx,
            account_id,
            &agent_event(Event::AgentCreated, &row)?,
        )
        .await?;
        self.commit_events(tx).await?;
        Ok(row)
    }

    /// Newest first; `before` is the id of the last agent of the previous page.
    pub async fn list_agents(
        &self,
        account_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AgentRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 AND ($2 = '' OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(account_id)
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn get_agent(&self, account_id: &str, id: &str) -> StoreResult<Option<AgentRow>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            agent_columns!(),
            " FROM agents WHERE account_id = $1 AND id = $2"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// An agent and its account, for the public widget endpoints, which name an agent
    /// but no account.
    pub async fn agent_with_account(&self, id: &str) -> StoreResult<Option<OwnedAgent>> {
        Ok(sqlx::query_as(concat!(
            "SELECT account_id, ",
            agent_columns!(),
            " FROM agents WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Changes the fields given and nothing else, in the UPDATE itself (an absent field
    /// binds NULL and keeps its column), so that concurrent changes of different fields
    /// all stay; the event carries the agent as it is after this change.
    pub async fn update_agent(
        &self,
        account_id: &str,
        id: &str,
        f: &AgentChanges,
    ) -> StoreResult<Option<AgentRow>> {
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
        .bind(f.voice.as_deref())
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = &row {
            publish(&mut tx, account_id, &agent_event(Event::AgentUpdated, row)?).await?;
        }
        self.commit_events(tx).await?;
        Ok(row)
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
