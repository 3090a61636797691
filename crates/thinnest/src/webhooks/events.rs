//! The catalogue of event types. A new type is one line here plus its payload.

/// Every event type, with what it means.
pub const EVENT_TYPES: &[(&str, &str)] = &[
    (
        "webhook.test",
        "sent on demand to one endpoint, to check it",
    ),
    ("agent.created", "an agent was created; `data` is the agent"),
    (
        "agent.updated",
        "an agent changed; `data` is the agent after the change",
    ),
    ("agent.deleted", "an agent was deleted; `data` holds its id"),
    (
        "api_key.created",
        "an API key was created; `data` is the key, never its secret",
    ),
    (
        "api_key.revoked",
        "an API key was revoked; `data` is the key",
    ),
    ("member.invited", "someone was invited to the workspace"),
    ("member.joined", "an invitation was accepted"),
    ("member.removed", "a member was removed from the workspace"),
];

pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.iter().any(|(t, _)| *t == name)
}
