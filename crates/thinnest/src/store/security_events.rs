//! Security events recorded against an API key, e.g. a key sent over plain HTTP.

use super::Store;
use crate::clock::now_ms;
use crate::ids::new_id;

/// What happened: a valid key arrived on the plain-HTTP port.
pub const KEY_SENT_OVER_HTTP: &str = "key_sent_over_plain_http";
/// A revoked key was presented (the request was refused).
pub const REVOKED_KEY_USED: &str = "revoked_key_used";
/// An expired key was presented (the request was refused).
pub const EXPIRED_KEY_USED: &str = "expired_key_used";

#[derive(Debug, sqlx::FromRow)]
pub struct SecurityEventRow {
    pub kind: String,
    pub client_ip: Option<String>,
    pub created_at: i64,
}

impl Store {
    /// Records an event, unless the same one (key, kind, address) was recorded in the
    /// last minute: a client retrying in a loop leaves one line a minute, not thousands.
    pub async fn record_key_event(
        &self,
        account_id: &str,
        key_id: &str,
        kind: &str,
        client_ip: &str,
    ) -> sqlx::Result<()> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO security_events (id, account_id, api_key_id, kind, client_ip, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM security_events \
             WHERE api_key_id = $3 AND kind = $4 AND client_ip = $5 AND created_at > $7)",
        )
        .bind(new_id("sev"))
        .bind(account_id)
        .bind(key_id)
        .bind(kind)
        .bind(client_ip)
        .bind(now)
        .bind(now - 60_000)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The newest events of one key, at most 20.
    pub async fn key_events(
        &self,
        account_id: &str,
        key_id: &str,
    ) -> sqlx::Result<Vec<SecurityEventRow>> {
        sqlx::query_as(
            "SELECT kind, client_ip, created_at FROM security_events \
             WHERE account_id = $1 AND api_key_id = $2 ORDER BY id DESC LIMIT 20",
        )
        .bind(account_id)
        .bind(key_id)
        .fetch_all(self.pool())
        .await
    }

    /// How many events each key of the account has.
    pub async fn key_event_counts(
        &self,
        account_id: &str,
    ) -> sqlx::Result<std::collections::HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT api_key_id, COUNT(*) FROM security_events \
             WHERE account_id = $1 AND api_key_id IS NOT NULL GROUP BY api_key_id",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }
}
