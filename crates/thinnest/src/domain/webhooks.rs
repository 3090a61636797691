//! Webhook endpoints as the product knows them: their public shape, the requests
//! that make and change them, and the rules for their event lists.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::events::is_event_type;
use super::fields::{Check, TextField};

crate::text_fields! {
    /// What an endpoint is for.
    EndpointDescription: 0..=500;
}

/// The longest a rotated signing secret keeps counting: 7 days.
pub const MAX_GRACE_SECONDS: u64 = 7 * 86_400;
pub const DEFAULT_GRACE_SECONDS: u64 = 86_400;

/// No Debug: it holds the secret.
#[derive(Serialize, ToSchema)]
pub struct SigningSecretBody {
    /// `whsec_` and the base64 of 32 random bytes.
    pub secret: String,
    /// Set during a rotation's grace period: until then the previous secret also
    /// signs deliveries and verifies widget identities.
    pub previous_expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Endpoint {
    /// `wh_…`
    pub id: String,
    pub url: String,
    /// Event types delivered here, or `["*"]` for all.
    pub events: Vec<String>,
    pub description: String,
    pub enabled: bool,
    /// Why the server disabled it (a 410 answer, or failing for 3 days); null otherwise.
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// https; http and private addresses only with `--allow-private-webhook-targets`.
    pub url: String,
    /// `["*"]` or event types from the catalogue.
    pub events: Vec<String>,
    #[schema(schema_with = EndpointDescription::nullable_schema)]
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    #[schema(schema_with = EndpointDescription::nullable_schema)]
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Checks an endpoint's event types; returns them as stored: a sorted JSON array.
pub fn check_events(check: &mut Check, events: &[String]) -> String {
    let mut events: Vec<String> = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        check.fail("events", "must name at least one event type, or \"*\"");
    } else if events.iter().any(|e| e == "*") && events.len() > 1 {
        check.fail("events", "\"*\" already means every event type");
    } else if let Some(unknown) = events.iter().find(|e| *e != "*" && !is_event_type(e)) {
        check.fail(
            "events",
            format!("{unknown:?} is not an event type (see the catalogue)"),
        );
    }
    serde_json::to_string(&events).unwrap_or_default()
}

/// An account's signing secrets as stored: sealed. No `Debug`, so they are never logged.
pub struct SealedSecrets {
    pub current_sealed: String,
    /// The secret before the last rotation, while it still counts.
    pub previous_sealed: Option<String>,
    pub previous_expires_at: Option<i64>,
}
