//! The catalogue of event types and their payloads. A new type is one line in
//! `events!` and its payload type; `docs/webhooks.md` shows each.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::agents::Agent;
use crate::domain::keys::ApiKeyInfo;
use crate::domain::roles::Role;

/// Declares [`Event`], one variant per line with its type name and payload, and
/// [`EVENT_TYPES`], the names in that order.
macro_rules! events {
    // `$name` is a `tt`, not a `literal`: utoipa reads `rename` only from a bare literal.
    ($($name:tt => $(#[$doc:meta])* $variant:ident($payload:ty),)+) => {
        /// What happened, as `type` and `data` of the delivered body. The body also
        /// holds the event's `id` (`evt_…`), `created_at` (RFC 3339) and `account_id`.
        #[derive(Debug, Serialize, ToSchema)]
        #[serde(tag = "type", content = "data")]
        #[schema(as = WebhookEvent, example = json!({
            "type": "agent.deleted",
            "data": {"id": "agent_01a220b2944f7c2c9e3b58e0d2f1a7b3", "deleted": true}
        }))]
        pub enum Event {
            $($(#[$doc])* #[serde(rename = $name)] $variant($payload),)+
        }

        pub const EVENT_TYPES: &[&str] = &[$($name),+];
    };
}

events! {
    "webhook.test" =>
        /// Sent by `POST /webhooks/{id}/test` to that endpoint only.
        WebhookTest(TestData),
    "agent.created" => AgentCreated(Agent),
    "agent.updated" => AgentUpdated(Agent),
    "agent.deleted" => AgentDeleted(Deleted),
    "api_key.created" =>
        /// Never holds the key's secret.
        ApiKeyCreated(ApiKeyInfo),
    "api_key.revoked" => ApiKeyRevoked(ApiKeyInfo),
    "member.invited" => MemberInvited(Invitation),
    "member.joined" => MemberJoined(Member),
    "member.removed" => MemberRemoved(Member),
    "conversation.message.completed" =>
        /// The agent answered a message, over the API or in the widget.
        ConversationMessageCompleted(MessageCompleted),
    "conversation.ended" => ConversationEnded(ConversationEnded),
}

pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageCompleted {
    pub conversation_id: String,
    pub agent_id: String,
    /// `api`, `widget`, or `dashboard` (an agent's test chat in the dashboard).
    pub channel: String,
    /// The widget visitor's verified user id, if any.
    pub user_id: Option<String>,
    pub message: String,
    pub reply: String,
    /// `builtin` or `openai`.
    pub engine: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationEnded {
    pub conversation_id: String,
    pub agent_id: String,
    pub channel: String,
    pub user_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestData {
    /// The endpoint the test was sent to.
    pub endpoint_id: String,
    pub message: String,
}

/// An object that no longer exists.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invitation {
    /// `inv_…`
    pub id: String,
    pub email: String,
    pub role: Role,
    /// The user who sent it.
    pub invited_by: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
}

/// The delivered body, in this order of fields.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: &'a str,
    account_id: &'a str,
    data: &'a serde_json::Value,
}

impl Event {
    /// The type name and the exact body to deliver.
    pub fn body(
        &self,
        id: &str,
        account_id: &str,
        created_at: &str,
    ) -> serde_json::Result<(String, String)> {
        let tagged = serde_json::to_value(self)?;
        let kind = tagged["type"].as_str().unwrap_or_default().to_owned();
        let body = serde_json::to_string(&Envelope {
            id,
            kind: &kind,
            created_at,
            account_id,
            data: &tagged["data"],
        })?;
        Ok((kind, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_envelope_with_the_type_and_data() {
        let event = Event::AgentDeleted(Deleted {
            id: "agent_1".into(),
            deleted: true,
        });
        let (kind, body) = event
            .body("evt_1", "acct_1", "2026-01-01T00:00:00Z")
            .unwrap_or_default();
        assert_eq!(kind, "agent.deleted");
        assert!(is_event_type(&kind));
        assert_eq!(
            body,
            r#"{"id":"evt_1","type":"agent.deleted","created_at":"2026-01-01T00:00:00Z","account_id":"acct_1","data":{"id":"agent_1","deleted":true}}"#
        );
    }
}
