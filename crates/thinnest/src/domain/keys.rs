//! API keys as the product knows them: a key's record (never its secret), whether it
//! works now, its public shape, and the security events recorded against it.

use serde::Serialize;
use utoipa::ToSchema;

use super::roles::Role;
use super::time::{now_ms, rfc3339};

crate::text_fields! {
    /// A key's name.
    KeyName: 1..=100, non_blank;
}

/// A stored API key: everything but the secret, whose hash only the store holds.
#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub role: Role,
    /// The prefix and the last four characters, e.g. `tai_…x7Qa`.
    pub hint: String,
    /// The user on whose behalf it was made.
    pub created_by: String,
    /// The first key of its lineage (itself and its rotations).
    pub lineage_id: String,
    /// The API key that made it; a rotation keeps the old key's.
    pub created_by_key: Option<String>,
    /// The key that replaced it by rotation.
    pub replaced_by: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Key {
    /// Usable now: neither revoked nor past its expiry.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

/// An API key as lists show it: never the secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyInfo {
    /// `key_…`
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The prefix and the last four characters, e.g. `tai_…x7Qa`.
    pub hint: String,
    pub status: KeyStatus,
    pub created_at: String,
    /// Id of the user on whose behalf the key was made.
    pub created_by: String,
    /// The API key that made this one (a rotation keeps the old key's); null when a
    /// person made it in the dashboard or an operator on the command line.
    pub created_by_key: Option<String>,
    pub last_used_at: Option<String>,
    /// The client address of the latest authenticated request.
    pub last_client_ip: Option<String>,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The key that replaced this one by rotation.
    pub replaced_by: Option<String>,
}

/// The key as the API shows it, with its status now.
impl From<Key> for ApiKeyInfo {
    fn from(row: Key) -> Self {
        let now = now_ms();
        let status = if row.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if row.is_active(now) {
            KeyStatus::Active
        } else {
            KeyStatus::Expired
        };
        ApiKeyInfo {
            status,
            role: row.role,
            id: row.id,
            name: row.name,
            hint: row.hint,
            created_at: rfc3339(row.created_at),
            created_by: row.created_by,
            created_by_key: row.created_by_key,
            last_used_at: row.last_used_at.map(rfc3339),
            last_client_ip: row.last_used_ip,
            expires_at: row.expires_at.map(rfc3339),
            revoked_at: row.revoked_at.map(rfc3339),
            replaced_by: row.replaced_by,
        }
    }
}

/// Something that happened to a key, e.g. `key_sent_over_plain_http`, from one client.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEvent {
    pub kind: String,
    /// The client: an IPv4 address, or an IPv6 /64 (`2001:db8:1:2::/64`).
    pub client_ip: Option<String>,
    /// How many times it happened from that client.
    pub count: i64,
    /// The first time.
    pub created_at: String,
    /// The last time.
    pub last_seen_at: String,
}
