//! Conversations and their messages.

use super::Store;
use super::StoreResult;
use super::outbox::publish;
use crate::domain::conversations::{Conversation, Message, NewConversation, Thread};
use crate::domain::events::{ConversationEnded, Event, MessageCompleted};
use crate::domain::ids::{AgentId, ConversationId, MessageId};
use crate::domain::time::{now_ms, rfc3339};

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: String,
    agent_id: String,
    channel: String,
    user_id: Option<String>,
    user_name: Option<String>,
    user_email: Option<String>,
    created_at: i64,
    updated_at: i64,
    ended_at: Option<i64>,
}

impl From<ConversationRow> for Conversation {
    fn from(row: ConversationRow) -> Self {
        Conversation {
            id: ConversationId::from_stored(row.id),
            agent_id: AgentId::from_stored(row.agent_id),
            channel: row.channel,
            user_id: row.user_id,
            user_name: row.user_name,
            user_email: row.user_email,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
            ended_at: row.ended_at.map(rfc3339),
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    role: String,
    content: String,
    engine: Option<String>,
    created_at: i64,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            role: row.role,
            content: row.content,
            engine: row.engine,
            created_at: rfc3339(row.created_at),
        }
    }
}

const CONVERSATION_COLUMNS: &str =
    "id, agent_id, channel, user_id, user_name, user_email, created_at, updated_at, ended_at";

/// Stores a new conversation. When it starts a widget session that another first
/// message already gave a conversation, it is deleted again and that one returned.
async fn insert(
    tx: &mut sqlx::AnyConnection,
    account_id: &str,
    new: &NewConversation,
) -> StoreResult<Option<Conversation>> {
    sqlx::query(
        "INSERT INTO conversations (id, account_id, agent_id, channel, user_id, user_name, \
         user_email, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(new.id.as_str())
    .bind(account_id)
    .bind(new.agent_id.as_str())
    .bind(new.channel)
    .bind(new.visitor.user_id.as_deref())
    .bind(new.visitor.user_name.as_deref())
    .bind(new.visitor.user_email.as_deref())
    .bind(new.created_at)
    .execute(&mut *tx)
    .await?;
    let Some(session) = &new.widget_session else {
        return Ok(None);
    };
    let claimed = sqlx::query(
        "UPDATE widget_sessions SET conversation_id = $2 WHERE token_hash = $1 \
         AND conversation_id IS NULL",
    )
    .bind(session)
    .bind(new.id.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let kept: Option<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 \
         AND id = (SELECT conversation_id FROM widget_sessions WHERE token_hash = $2)"
    )))
    .bind(account_id)
    .bind(session)
    .fetch_optional(&mut *tx)
    .await?;
    if kept.is_some() {
        sqlx::query("DELETE FROM conversations WHERE id = $1")
            .bind(new.id.as_str())
            .execute(&mut *tx)
            .await?;
    }
    Ok(kept.map(Conversation::from))
}

impl Store {
    pub async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<Conversation>> {
        let row: Option<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Conversation::from))
    }

    /// Newest first; `agent_id` empty for every agent.
    pub async fn conversations(
        &self,
        account_id: &str,
        agent_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>> {
        let rows: Vec<ConversationRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE account_id = $1 \
             AND ($2 = '' OR agent_id = $2) AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4"
        )))
        .bind(account_id)
        .bind(agent_id)
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Conversation::from).collect())
    }

    pub async fn messages(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT role, content, engine, created_at FROM conversation_messages \
             WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    /// The last `limit` messages of a conversation, oldest first.
    pub async fn recent_messages(
        &self,
        conversation_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT role, content, engine, created_at FROM conversation_messages \
             WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(conversation_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().rev().map(Message::from).collect())
    }

    /// Stores a visitor's message and the agent's reply together, with the
    /// `conversation.message.completed` event; a new conversation is stored with them.
    /// A new widget conversation becomes its session's, unless another first message
    /// of the session got there before: then the exchange joins that one. Returns the
    /// id of the conversation the exchange joined, and the reply.
    pub async fn add_exchange(
        &self,
        account_id: &str,
        thread: &Thread,
        message: &str,
        reply: &str,
        engine: &str,
    ) -> StoreResult<(ConversationId, Message)> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let kept = match thread {
            Thread::Ongoing(_) => None,
            Thread::New(new) => insert(&mut tx, account_id, new).await?,
        };
        // Who the event names: the conversation the exchange joins.
        let (id, agent_id, channel, user_id) = match (&kept, thread) {
            (Some(c), _) | (None, Thread::Ongoing(c)) => {
                (&c.id, &c.agent_id, c.channel.as_str(), c.user_id.as_ref())
            }
            (None, Thread::New(new)) => (
                &new.id,
                &new.agent_id,
                new.channel,
                new.visitor.user_id.as_ref(),
            ),
        };
        let insert = "INSERT INTO conversation_messages (id, conversation_id, role, content, engine, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING role, content, engine, created_at";
        let _: MessageRow = sqlx::query_as(insert)
            .bind(String::from(MessageId::new()))
            .bind(id.as_str())
            .bind("user")
            .bind(message)
            .bind(None::<&str>)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
        let answer: MessageRow = sqlx::query_as(insert)
            .bind(String::from(MessageId::new()))
            .bind(id.as_str())
            .bind("assistant")
            .bind(reply)
            .bind(engine)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE conversations SET updated_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        let event = Event::ConversationMessageCompleted(MessageCompleted {
            conversation_id: id.to_string(),
            agent_id: agent_id.to_string(),
            channel: channel.to_owned(),
            user_id: user_id.cloned(),
            message: message.to_owned(),
            reply: reply.to_owned(),
            engine: engine.to_owned(),
        });
        publish(&mut tx, account_id, &event).await?;
        let id = id.clone();
        self.commit_events(tx).await?;
        Ok((id, answer.into()))
    }

    /// Ends a conversation once, emitting `conversation.ended` when this call ended it;
    /// the conversation as it now is, or None when there is no such conversation.
    pub async fn end_conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<Conversation>> {
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
        Ok(Some(conversation.into()))
    }
}
