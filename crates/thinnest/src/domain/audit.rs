//! The audit log as the product shows it: who changed what, from where.

use serde::Serialize;
use utoipa::ToSchema;

/// An object an entry names.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reference {
    /// `api_key`, `account` or `operator` (the command line, for actors).
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// `aud_…`
    pub id: String,
    /// `api_key.created`, `api_key.revoked`, `api_key.rotated`, `account.rate_limits_changed`.
    pub action: String,
    pub actor: Reference,
    pub target: Reference,
    /// Where the request came from; null for the command line.
    pub client_ip: Option<String>,
    /// What changed, e.g. a new key's name and role; never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// How many times it happened: repeats of one entry within a minute (failed sign-ins
    /// from one address) are folded into one, with this count.
    pub count: i64,
    pub created_at: String,
}
