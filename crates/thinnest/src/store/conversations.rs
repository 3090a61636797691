//! Conversations and their messages, knowledge, embed settings and widget sessions.

use super::Store;
use super::outbox::publish;
use crate::clock::now_ms;
use crate::ids::new_id;
use crate::webhooks::events::{ConversationEnded, Event, MessageCompleted};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: String,
    pub agent_id: String,
    pub channel: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub ended_at: Option<i64>,
    /// Not stored yet: its first exchange stores it, so a conversation whose first
    /// reply failed leaves nothing behind.
    #[sqlx(skip)]
    pub unsaved: bool,
}

impl ConversationRow {
    /// A new API conversation with `agent_id`, stored with its first exchange.
    pub fn draft(agent_id: &str) -> ConversationRow {
        let now = now_ms();
        ConversationRow {
            id: new_id("conv"),
            agent_id: agent_id.to_owned(),
            channel: "api".to_owned(),
            user_id: None,
            user_name: None,
            user_email: None,
            created_at: now,
            updated_at: now,
            ended_at: None,
            unsaved: true,
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: String,
    pub role: String,
    pub content: String,
    pub engine: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnowledgeRow {
    pub id: String,
    pub agent_id: String,
    pub title: String,
    pub text: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EmbedRow {
    pub allowed_origins: String,
    pub identity_verification: String,
}

/// Who a widget conversation is with, when the customer's server vouched for them.
#[derive(Debug, Default, Clone)]
pub struct Visitor {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// When what vouched for the visitor (a JWT) stops counting, in unix ms.
    pub until: Option<i64>,
}

/// A widget session found by its token.
#[derive(Debug, sqlx::FromRow)]
pub struct WidgetSessionRow {
    pub token_hash: String,
    pub account_id: String,
    pub agent_id: String,
    /// None until the session's first message.
    pub conversation_id: Option<String>,
    pub origin: String,
    /// The verified visitor; None for an anonymous one.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
}

impl WidgetSessionRow {
    pub fn visitor(&self) -> Visitor {
        Visitor {
            user_id: self.user_id.clone(),
            user_name: self.user_name.clone(),
            user_email: self.user_email.clone(),
            until: None,
        }
    }
}

const CONVERSATION_COLUMNS: &str =
    "id, agent_id, channel, user_id, user_name, user_email, created_at, updated_at, ended_at";

impl Store {
    pub async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> sqlx::Result<Option<ConversationRow>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await
    }

    /// Newest first; `agent_id` empty for every agent.
    pub async fn conversations(
        &self,
        account_id: &str,
        agent_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> sqlx::Result<Vec<ConversationRow>> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 \
             AND ($2 = '' OR agent_id = $2) AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
        )))
        .bind(account_id)
        .bind(agent_id)
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }

    pub async fn messages(&self, conversation_id: &str) -> sqlx::Result<Vec<MessageRow>> {
        sqlx::query_as(
            "SELECT id, role, content, engine, created_at FROM conversation_messages \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await
    }

    /// Stores a visitor's message and the agent's reply together, with the
    /// `conversation.message.completed` event.
    pub async fn add_exchange(
        &self,
        account_id: &str,
        conversation: &ConversationRow,
        message: &str,
        reply: &str,
        engine: &str,
    ) -> sqlx::Result<MessageRow> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        if conversation.unsaved {
            sqlx::query(
                "INSERT INTO conversations (id, account_id, agent_id, channel, user_id, user_name, \
                 user_email, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&conversation.id)
            .bind(account_id)
            .bind(&conversation.agent_id)
            .bind(&conversation.channel)
            .bind(conversation.user_id.as_deref())
            .bind(conversation.user_name.as_deref())
            .bind(conversation.user_email.as_deref())
            .bind(conversation.created_at)
            .execute(&mut *tx)
            .await?;
        }
        let insert = "INSERT INTO conversation_messages (id, conversation_id, role, content, engine, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, role, content, engine, created_at";
        let _: MessageRow = sqlx::query_as(insert)
            .bind(new_id("msg"))
            .bind(&conversation.id)
            .bind("user")
            .bind(message)
            .bind(None::<&str>)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let answer: MessageRow = sqlx::query_as(insert)
            .bind(new_id("msg"))
            .bind(&conversation.id)
            .bind("assistant")
            .bind(reply)
            .bind(engine)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE conversations SET updated_at = $2 WHERE id = $1")
            .bind(&conversation.id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let event = Event::ConversationMessageCompleted(MessageCompleted {
            conversation_id: conversation.id.clone(),
            agent_id: conversation.agent_id.clone(),
            channel: conversation.channel.clone(),
            user_id: conversation.user_id.clone(),
            message: message.to_owned(),
            reply: reply.to_owned(),
            engine: engine.to_owned(),
        });
        publish(&mut tx, account_id, &event).await?;
        self.commit_events(tx).await?;
        Ok(answer)
    }

    /// Ends a conversation once; true when this call ended it.
    pub async fn end_conversation(
        &self,
        account_id: &str,
        conversation: &ConversationRow,
    ) -> sqlx::Result<bool> {
        let mut tx = self.pool().begin().await?;
        let ended = sqlx::query(
            "UPDATE conversations SET ended_at = $3, updated_at = $3 WHERE account_id = $1 AND id = $2 \
             AND ended_at IS NULL",
        )
        .bind(account_id)
        .bind(&conversation.id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if ended {
            let event = Event::ConversationEnded(ConversationEnded {
                conversation_id: conversation.id.clone(),
                agent_id: conversation.agent_id.clone(),
                channel: conversation.channel.clone(),
                user_id: conversation.user_id.clone(),
            });
            publish(&mut tx, account_id, &event).await?;
        }
        self.commit_events(tx).await?;
        Ok(ended)
    }

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
    ) -> sqlx::Result<Option<KnowledgeRow>> {
        let mut tx = self.pool().begin().await?;
        if self.backend == super::Backend::Postgres {
            sqlx::query("SELECT id FROM agents WHERE account_id = $1 AND id = $2 FOR UPDATE")
                .bind(account_id)
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
        let row: Option<KnowledgeRow> = sqlx::query_as(
            "INSERT INTO knowledge (id, account_id, agent_id, title, text, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT COALESCE(SUM(LENGTH(text)), 0) \
             FROM knowledge WHERE account_id = $2 AND agent_id = $3) + $7 <= $8 \
             RETURNING id, agent_id, title, text, created_at",
        )
        .bind(new_id("kn"))
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
        Ok(row)
    }

    /// An agent's knowledge, oldest first.
    pub async fn knowledge(
        &self,
        account_id: &str,
        agent_id: &str,
    ) -> sqlx::Result<Vec<KnowledgeRow>> {
        sqlx::query_as(
            "SELECT id, agent_id, title, text, created_at FROM knowledge \
             WHERE account_id = $1 AND agent_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await
    }

    pub async fn delete_knowledge(&self, account_id: &str, id: &str) -> sqlx::Result<bool> {
        let done = sqlx::query("DELETE FROM knowledge WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn embed(&self, account_id: &str, agent_id: &str) -> sqlx::Result<Option<EmbedRow>> {
        sqlx::query_as(
            "SELECT allowed_origins, identity_verification FROM agent_embeds \
             WHERE account_id = $1 AND agent_id = $2",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_optional(self.pool())
        .await
    }

    pub async fn set_embed(
        &self,
        account_id: &str,
        agent_id: &str,
        embed: &EmbedRow,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO agent_embeds (agent_id, account_id, allowed_origins, identity_verification, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id) DO UPDATE SET \
             allowed_origins = excluded.allowed_origins, \
             identity_verification = excluded.identity_verification, updated_at = excluded.updated_at",
        )
        .bind(agent_id)
        .bind(account_id)
        .bind(&embed.allowed_origins)
        .bind(&embed.identity_verification)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The account an agent belongs to, for the public widget endpoints.
    pub async fn agent_account(&self, agent_id: &str) -> sqlx::Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT account_id FROM agents WHERE id = $1")
            .bind(agent_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|(a,)| a))
    }

    /// A session without a conversation yet: that comes with its first message.
    pub async fn insert_widget_session(
        &self,
        token_hash: &str,
        account_id: &str,
        agent_id: &str,
        origin: &str,
        visitor: &Visitor,
        expires_at: i64,
    ) -> sqlx::Result<()> {
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
    pub async fn widget_session(&self, token_hash: &str) -> sqlx::Result<Option<WidgetSessionRow>> {
        sqlx::query_as(
            "SELECT token_hash, account_id, agent_id, conversation_id, origin, user_id, user_name, \
             user_email FROM widget_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await
    }

    /// The session's conversation, created with `visitor` on its first message. When two
    /// first messages race, both get the conversation the session kept.
    pub async fn widget_conversation(
        &self,
        session: &WidgetSessionRow,
        visitor: &Visitor,
    ) -> sqlx::Result<Option<ConversationRow>> {
        if let Some(id) = &session.conversation_id {
            return self.conversation(&session.account_id, id).await;
        }
        let mut tx = self.pool().begin().await?;
        let created: ConversationRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO conversations (id, account_id, agent_id, channel, user_id, user_name, user_email, \
             created_at, updated_at) VALUES ($1, $2, $3, 'widget', $4, $5, $6, $7, $7) \
             RETURNING {CONVERSATION_COLUMNS}"
        )))
        .bind(new_id("conv"))
        .bind(&session.account_id)
        .bind(&session.agent_id)
        .bind(visitor.user_id.as_deref())
        .bind(visitor.user_name.as_deref())
        .bind(visitor.user_email.as_deref())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let kept = sqlx::query(
            "UPDATE widget_sessions SET conversation_id = $2 WHERE token_hash = $1 \
             AND conversation_id IS NULL",
        )
        .bind(&session.token_hash)
        .bind(&created.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if kept {
            tx.commit().await?;
            return Ok(Some(created));
        }
        tx.rollback().await?;
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT conversation_id FROM widget_sessions WHERE token_hash = $1")
                .bind(&session.token_hash)
                .fetch_optional(self.pool())
                .await?;
        match row.and_then(|(id,)| id) {
            Some(id) => self.conversation(&session.account_id, &id).await,
            None => Ok(None),
        }
    }
}
