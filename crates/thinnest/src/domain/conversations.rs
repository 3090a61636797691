//! Conversations with an agent and their messages: their public shapes, how a new
//! one starts, and the rules for a message.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::fields::Check;
use crate::domain::ids::{AgentId, ConversationId};
use crate::domain::time::now_ms;
use crate::domain::widget::Visitor;

/// The longest message accepted.
pub const MAX_MESSAGE: usize = 4000;
/// Earlier messages an engine sees.
pub const HISTORY: usize = 20;

/// Checks a message's text.
pub fn check_message(check: &mut Check, message: &str) {
    check.text("message", message, 1, MAX_MESSAGE);
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// For assistant messages: `builtin` or `openai`.
    pub engine: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Conversation {
    /// `conv_…`
    #[schema(value_type = String)]
    pub id: ConversationId,
    #[schema(value_type = String)]
    pub agent_id: AgentId,
    /// `api`, `widget`, or `dashboard` (an agent's test chat).
    pub channel: String,
    /// A widget visitor's user id, when the customer's server vouched for it.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub ended_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDetail {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<Message>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Exchange {
    #[schema(value_type = String)]
    pub conversation_id: ConversationId,
    pub reply: Message,
}

/// Where a conversation takes place.
#[derive(Debug, Clone, Copy)]
pub enum Channel<'a> {
    Api,
    /// The test chat on an agent's page in the dashboard.
    Dashboard,
    /// The widget, for the session with this token hash.
    Widget(&'a str),
}

/// A conversation not stored yet: its first exchange stores it, so a conversation
/// whose first reply failed leaves nothing behind.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub id: ConversationId,
    pub agent_id: AgentId,
    /// `api`, `widget` or `dashboard`.
    pub channel: &'static str,
    pub visitor: Visitor,
    /// For a widget conversation: the token hash of the session it starts for, which
    /// its first exchange links to it.
    pub widget_session: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

impl NewConversation {
    /// A new conversation with `agent_id`, in `channel`, with `visitor`.
    pub fn new(agent_id: AgentId, channel: Channel<'_>, visitor: &Visitor) -> NewConversation {
        let (channel, widget_session) = match channel {
            Channel::Api => ("api", None),
            Channel::Dashboard => ("dashboard", None),
            Channel::Widget(session) => ("widget", Some(session.to_owned())),
        };
        NewConversation {
            id: ConversationId::new(),
            agent_id,
            channel,
            visitor: visitor.clone(),
            widget_session,
            created_at: now_ms(),
        }
    }
}

/// The conversation a message is sent in.
#[derive(Debug, Clone)]
pub enum Thread {
    /// A stored conversation.
    Ongoing(Conversation),
    /// One that the exchange starts.
    New(NewConversation),
}

impl Thread {
    pub fn ended(&self) -> bool {
        matches!(self, Thread::Ongoing(c) if c.ended_at.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_has_1_to_4000_characters() {
        for (message, ok) in [("", false), ("hi", true), (&"é".repeat(4000), true)] {
            let mut check = Check::new();
            check_message(&mut check, message);
            assert_eq!(check.finish().is_ok(), ok, "{}", message.len());
        }
        let mut check = Check::new();
        check_message(&mut check, &"a".repeat(MAX_MESSAGE + 1));
        assert!(
            check
                .finish()
                .is_err_and(|i| i.fields.contains_key("message"))
        );
    }

    #[test]
    fn a_widget_conversation_remembers_its_session() {
        let agent = AgentId::new();
        let visitor = Visitor {
            user_id: Some("u1".to_owned()),
            ..Visitor::default()
        };
        let new = NewConversation::new(agent.clone(), Channel::Widget("hash"), &visitor);
        assert_eq!(
            (new.channel, new.widget_session.as_deref()),
            ("widget", Some("hash"))
        );
        assert_eq!(new.visitor.user_id.as_deref(), Some("u1"));
        let api = NewConversation::new(agent, Channel::Api, &Visitor::default());
        assert_eq!((api.channel, api.widget_session.as_deref()), ("api", None));
        assert!(!Thread::New(api).ended());
    }
}
