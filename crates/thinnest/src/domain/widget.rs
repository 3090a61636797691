//! The chat widget's visitors and sessions.

use crate::domain::fields::Check;
use crate::domain::ids::{AccountId, AgentId, ConversationId};

/// The longest user id, name, email or hash a page may send.
pub const MAX_USER_FIELD: usize = 256;
/// How long a widget session lasts, in ms.
pub const SESSION_MS: i64 = 3_600_000;

/// Who a widget conversation is with, when the customer's server vouched for them.
#[derive(Debug, Default, Clone)]
pub struct Visitor {
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// When what vouched for the visitor (a JWT) stops counting, in unix ms.
    pub until: Option<i64>,
}

/// A live widget session.
#[derive(Debug)]
pub struct WidgetSession {
    pub token_hash: String,
    pub account_id: AccountId,
    pub agent_id: AgentId,
    /// None until the session's first message.
    pub conversation_id: Option<ConversationId>,
    pub origin: String,
    /// The verified visitor; without a user id for an anonymous one.
    pub visitor: Visitor,
}

/// A visitor's id, name and email, each when given: 1 to 256 characters, no NUL.
pub fn check_identity(
    check: &mut Check,
    user_id: Option<&str>,
    user_name: Option<&str>,
    user_email: Option<&str>,
) {
    for (field, value) in [
        ("user_id", user_id),
        ("user_name", user_name),
        ("user_email", user_email),
    ] {
        if let Some(value) = value {
            check.text(field, value, 1, MAX_USER_FIELD);
        }
    }
}
