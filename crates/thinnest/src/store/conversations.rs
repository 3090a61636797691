//! Conversations and their messages, knowledge, embed settings and widget sessions.

use super::Store;
use super::StoreResult;
use super::outbox::publish;
use crate::domain::events::{ConversationEnded, Event, MessageCompleted};
use crate::domain::ids::{ConversationId, KnowledgeId, MessageId};
use crate::domain::time::now_ms;

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
    /// For an unsaved widget conversation: the token hash of the session it starts
    /// for, which its first exchange links to it.
    #[sqlx(skip)]
    pub widget_session: Option<String>,
}

/// Where a conversation takes place.
#[derive(Debug, Clone, Copy)]
pub enum Channel<'a> {
    Api,
    /// The widget, for the session with this token hash.
    Widget(&'a str),
}

impl ConversationRow {
    /// A new conversation with `agent_id`, stored with its first exchange.
    pub fn draft(agent_id: &str, channel: Channel<'_>, visitor: &Visitor) -> ConversationRow {
        let now = now_ms();
        let (channel, widget_session) = match channel {
            Channel::Api => ("api", None),
            Channel::Widget(session) => ("widget", Some(session.to_owned())),
        };
        ConversationRow {
            id: String::from(ConversationId::new()),
            agent_id: agent_id.to_owned(),
            channel: channel.to_owned(),
            user_id: visitor.user_id.clone(),
            user_name: visitor.user_name.clone(),
            user_email: visitor.user_email.clone(),
            created_at: now,
            updated_at: now,
            ended_at: None,
            unsaved: true,
            widget_session,
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

/// A document, as an engine reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnowledgeRow {
    pub id: String,
    pub agent_id: String,
    pub title: String,
    pub text: String,
    pub created_at: i64,
}

/// A document, as listed: its size instead of its text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnowledgeEntry {
    pub id: String,
    pub agent_id: String,
    pub title: String,
    /// The text's size in bytes.
    pub bytes: i64,
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
    ) -> StoreResult<Option<ConversationRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Newest first; `agent_id` empty for every agent.
    pub async fn conversations(
        &self,
        account_id: &str,
        agent_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationRow>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 \
             AND ($2 = '' OR agent_id = $2) AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
        )))
        .bind(account_id)
        .bind(agent_id)
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn messages(&self, conversation_id: &str) -> StoreResult<Vec<MessageRow>> {
        Ok(sqlx::query_as(
            "SELECT id, role, content, engine, created_at FROM conversation_messages \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The last `limit` messages of a conversation, oldest first.
    pub async fn recent_messages(
        &self,
        conversation_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<MessageRow>> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, role, content, engine, created_at FROM conversation_messages \
             WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(conversation_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Stores a visitor's message and the agent's reply together, with the
    /// `conversation.message.completed` event; an unsaved conversation is stored with
    /// them. An unsaved widget conversation becomes its session's, unless another first
    /// message of the session got there before: then the exchange joins that one.
    /// Returns the id of the conversation the exchange joined, and the reply.
    pub async fn add_exchange(
        &self,
        account_id: &str,
        conversation: &ConversationRow,
        message: &str,
        reply: &str,
        engine: &str,
    ) -> StoreResult<(String, MessageRow)> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let mut kept = None;
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
            if let Some(session) = &conversation.widget_session {
                let claimed = sqlx::query(
                    "UPDATE widget_sessions SET conversation_id = $2 WHERE token_hash = $1 \
                     AND conversation_id IS NULL",
                )
                .bind(session)
                .bind(&conversation.id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !claimed {
                    kept = sqlx::query_as::<_, ConversationRow>(sqlx::AssertSqlSafe(format!(
                        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 \
                         AND id = (SELECT conversation_id FROM widget_sessions WHERE token_hash = $2)"
                    )))
                    .bind(account_id)
                    .bind(session)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if kept.is_some() {
                        sqlx::query("DELETE FROM conversations WHERE id = $1")
                            .bind(&conversation.id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
        }
        let conversation = kept.as_ref().unwrap_or(conversation);
        let insert = "INSERT INTO conversation_messages (id, conversation_id, role, content, engine, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, role, content, engine, created_at";
        let _: MessageRow = sqlx::query_as(insert)
            .bind(String::from(MessageId::new()))
            .bind(&conversation.id)
            .bind("user")
            .bind(message)
            .bind(None::<&str>)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let answer: MessageRow = sqlx::query_as(insert)
            .bind(String::from(MessageId::new()))
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
        Ok((conversation.id.clone(), answer))
    }

    /// Ends a conversation once, emitting `conversation.ended` when this call ended it;
    /// the conversation as it now is, or None when there is no such conversation.
    pub async fn end_conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRow>> {
        let mut tx = self.pool().begin().await?;
        let ended: Option<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE conversations SET ended_at = $3, updated_at = $3 WHERE account_id = $1 \
             AND id = $2 AND ended_at IS NULL RETURNING {CONVERSATION_COLUMNS}"
        )))
        .bind(account_id)
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(conversation) = ended else {
            // Ended before, or not there at all.
            tx.rollback().await?;
            return self.conversation(account_id, id).await;
        };
        let event = Event::ConversationEnded(ConversationEnded {
            conversation_id: conversation.id.clone(),
            agent_id: conversation.agent_id.clone(),
            channel: conversation.channel.clone(),
            user_id: conversation.user_id.clone(),
        });
        publish(&mut tx, account_id, &event).await?;
        self.commit_events(tx).await?;
        Ok(Some(conversation))
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
    ) -> StoreResult<Option<KnowledgeEntry>> {
        let mut tx = self.pool().begin().await?;
        if self.backend == super::Backend::Postgres {
            sqlx::query("SELECT id FROM agents WHERE account_id = $1 AND id = $2 FOR UPDATE")
                .bind(account_id)
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
        let row: Option<KnowledgeEntry> = sqlx::query_as(
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
        Ok(row)
    }

    /// An agent's documents with their sizes, oldest first.
    pub async fn knowledge_entries(
        &self,
        account_id: &str,
        agent_id: &str,
    ) -> StoreResult<Vec<KnowledgeEntry>> {
        Ok(sqlx::query_as(
            "SELECT id, agent_id, title, OCTET_LENGTH(text) AS bytes, created_at FROM knowledge \
             WHERE account_id = $1 AND agent_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// An agent's knowledge with its texts, oldest first.
    pub async fn knowledge(
        &self,
        account_id: &str,
        agent_id: &str,
    ) -> StoreResult<Vec<KnowledgeRow>> {
        Ok(sqlx::query_as(
            "SELECT id, agent_id, title, text, created_at FROM knowledge \
             WHERE account_id = $1 AND agent_id = $2 ORDER BY id",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn delete_knowledge(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM knowledge WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn embed(&self, account_id: &str, agent_id: &str) -> StoreResult<Option<EmbedRow>> {
        Ok(sqlx::query_as(
            "SELECT allowed_origins, identity_verification FROM agent_embeds \
             WHERE account_id = $1 AND agent_id = $2",
        )
        .bind(account_id)
        .bind(agent_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn set_embed(
        &self,
        account_id: &str,
        agent_id: &str,
        embed: &EmbedRow,
    ) -> StoreResult<()> {
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
    pub async fn widget_session(&self, token_hash: &str) -> StoreResult<Option<WidgetSessionRow>> {
        Ok(sqlx::query_as(
            "SELECT token_hash, account_id, agent_id, conversation_id, origin, user_id, user_name, \
             user_email FROM widget_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?)
    }
}
