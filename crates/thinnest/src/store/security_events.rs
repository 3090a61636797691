//! Security events recorded against an API key, e.g. a key sent over plain HTTP, or
//! a revoked key presented.

use super::Store;
use super::StoreResult;
use crate::domain::ids::SecurityEventId;
use crate::domain::keys::SecurityEvent;
use crate::domain::time::{now_ms, rfc3339};

/// What happened: a valid key arrived on the plain-HTTP port.
pub const KEY_SENT_OVER_HTTP: &str = "key_sent_over_plain_http";
/// A revoked key was presented (the request was refused).
pub const REVOKED_KEY_USED: &str = "revoked_key_used";
/// An expired key was presented (the request was refused).
pub const EXPIRED_KEY_USED: &str = "expired_key_used";

#[derive(Debug, sqlx::FromRow)]
struct SecurityEventRow {
    kind: String,
    /// The client: an IPv4 address, or an IPv6 /64.
    client_ip: Option<String>,
    created_at: i64,
    /// How often it happened, and when it last did.
    repeats: i64,
    last_at: i64,
}

impl From<SecurityEventRow> for SecurityEvent {
    fn from(row: SecurityEventRow) -> Self {
        SecurityEvent {
            kind: row.kind,
            client_ip: row.client_ip,
            count: row.repeats,
            created_at: rfc3339(row.created_at),
            last_seen_at: rfc3339(row.last_at),
        }
    }
}

impl Store {
    /// Records an event of a key: one row per key, kind and client (an IPv4 address or
    /// an IPv6 /64, `client`), counting repeats, so that a client retrying in a loop,
    /// or hopping addresses within its block, leaves one row however often it comes.
    pub async fn record_key_event(
        &self,
        account_id: &str,
        key_id: &str,
        kind: &str,
        client: &str,
    ) -> StoreResult<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO security_events (id, account_id, api_key_id, kind, client_ip, created_at, last_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (api_key_id, kind, client_ip) \
             DO UPDATE SET repeats = security_events.repeats + 1, last_at = excluded.last_at",
        )
        .bind(String::from(SecurityEventId::new()))
        .bind(account_id)
        .bind(key_id)
        .bind(kind)
        .bind(client)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The events of one key that happened last, at most 20.
    pub async fn key_events(
        &self,
        account_id: &str,
        key_id: &str,
    ) -> StoreResult<Vec<SecurityEvent>> {
        let rows: Vec<SecurityEventRow> = sqlx::query_as(
            "SELECT kind, client_ip, created_at, repeats, COALESCE(last_at, created_at) AS last_at \
             FROM security_events WHERE account_id = $1 AND api_key_id = $2 \
             ORDER BY COALESCE(last_at, created_at) DESC, id DESC LIMIT 20",
        )
        .bind(account_id)
        .bind(key_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(SecurityEvent::from).collect())
    }

    /// How many times each key of the account was presented after it was revoked or
    /// expired (refused with 401), repeats included.
    pub async fn retired_key_uses(
        &self,
        account_id: &str,
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT api_key_id, CAST(SUM(repeats) AS BIGINT) FROM security_events \
             WHERE account_id = $1 AND api_key_id IS NOT NULL AND kind IN ($2, $3) \
             GROUP BY api_key_id",
        )
        .bind(account_id)
        .bind(REVOKED_KEY_USED)
        .bind(EXPIRED_KEY_USED)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// How many events each key of the account has had, repeats included.
    pub async fn key_event_counts(
        &self,
        account_id: &str,
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT api_key_id, CAST(SUM(repeats) AS BIGINT) FROM security_events \
             WHERE account_id = $1 AND api_key_id IS NOT NULL GROUP BY api_key_id",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }
}
