//! The catalogue of event types. A new type is one line here plus its payload;
//! `docs/webhooks.md` says when each is sent.

pub const EVENT_TYPES: &[&str] = &[
    "webhook.test",
    "agent.created",
    "agent.updated",
    "agent.deleted",
    "api_key.created",
    "api_key.revoked",
    "member.invited",
    "member.joined",
    "member.removed",
];

pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}
