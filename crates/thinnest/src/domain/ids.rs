//! Object ids: a type prefix and a time-ordered UUIDv7 (32 lowercase hex digits), so
//! ids sort by creation. Each kind of object has its own id type, declared once
//! below with its prefix: a mistyped prefix does not compile, and "is this the
//! shape of an agent id" is one function of [`AgentId`].

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};

/// What every id type can do.
pub trait Id: Sized + Deref<Target = str> {
    /// The prefix before `_`, e.g. `agent`.
    const PREFIX: &'static str;
    /// What the object is called in messages, e.g. `agent`.
    const NOUN: &'static str;

    /// The id, when `text` has this type's shape; nothing otherwise.
    fn parse(text: &str) -> Option<Self>;
}

/// True when `text` is `{prefix}_` and 32 lowercase hex digits.
fn has_shape(prefix: &str, text: &str) -> bool {
    text.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|hex| {
            hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// Declares one id type per line: `Name = "prefix", "noun";`.
macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident = $prefix:literal, $noun:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id, later in order than every id made before it here.
            pub fn new() -> $name {
                $name(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            /// An id as the store gave it back: trusted, not checked again.
            pub fn from_stored(text: String) -> $name {
                $name(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> $name {
                $name::new()
            }
        }

        impl Id for $name {
            const PREFIX: &'static str = $prefix;
            const NOUN: &'static str = $noun;

            fn parse(text: &str) -> Option<$name> {
                has_shape($prefix, text).then(|| $name(text.to_owned()))
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        /// Only text of the right shape becomes an id.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = String::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("{text:?} is not {} id", a_noun($noun)))
                })
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema($prefix)
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

ids! {
    AccountId = "acct", "account";
    AgentId = "agent", "agent";
    AuditEntryId = "aud", "audit log entry";
    ConversationId = "conv", "conversation";
    EventId = "evt", "event";
    IdentityId = "idn", "sign-in method";
    InvitationId = "inv", "invitation";
    KeyId = "key", "API key";
    KnowledgeId = "kn", "document";
    /// Marks the deliveries one dispatcher has claimed.
    LeaseId = "lease", "lease";
    /// Names a message written to the mail outbox directory.
    MailId = "mail", "mail";
    MessageId = "msg", "message";
    SessionId = "sess", "session";
    SecurityEventId = "sev", "security event";
    UserId = "user", "user";
    EndpointId = "wh", "webhook endpoint";
    AttemptId = "wha", "delivery attempt";
    DeliveryId = "whd", "delivery";
}

fn a_noun(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {noun}")
}

fn id_schema(prefix: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!("^{prefix}_[0-9a-f]{{32}}$")))
        .examples([format!("{prefix}_0192b3c4d5e6f708192a3b4c5d6e7f80")])
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_has_its_prefix_and_32_hex_digits_and_sorts_by_creation() {
        let first = AgentId::new();
        let second = AgentId::new();
        assert!(first.starts_with("agent_") && first.len() == "agent_".len() + 32);
        assert!(first < second);
        assert_eq!(AgentId::parse(&first), Some(first.clone()));
    }

    #[test]
    fn text_of_another_shape_is_no_id() {
        let key = KeyId::new();
        for bad in [
            key.as_str(),
            "agent_",
            "agent_0192B3C4D5E6F708192A3B4C5D6E7F80",
            "agent_0192b3c4d5e6f708192a3b4c5d6e7f8",
            "agents_0192b3c4d5e6f708192a3b4c5d6e7f80",
            "agent-0192b3c4d5e6f708192a3b4c5d6e7f80",
        ] {
            assert_eq!(AgentId::parse(bad), None, "{bad}");
        }
        let refused = serde_json::from_str::<AgentId>(&format!("\"{key}\""));
        assert!(
            refused
                .err()
                .is_some_and(|e| e.to_string().contains("is not an agent id"))
        );
    }
}
