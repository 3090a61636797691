//! Webhook signing secrets (sealed) and endpoints.

use super::Store;
use super::StoreResult;
use super::audit::{self, Actor, Change};
use crate::domain::ids::EndpointId;
use crate::domain::time::{now_ms, rfc3339};
use crate::domain::webhooks::{Endpoint, SealedSecrets};

/// An account's secrets row; the store answers with [`SealedSecrets`].
#[derive(sqlx::FromRow)]
struct SecretRow {
    current_sealed: String,
    previous_sealed: Option<String>,
    previous_expires_at: Option<i64>,
}

impl From<SecretRow> for SealedSecrets {
    fn from(row: SecretRow) -> SealedSecrets {
        SealedSecrets {
            current_sealed: row.current_sealed,
            previous_sealed: row.previous_sealed,
            previous_expires_at: row.previous_expires_at,
        }
    }
}

/// An endpoint's row; the store answers with [`Endpoint`]s.
#[derive(Debug, Clone, sqlx::FromRow)]
struct EndpointRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub description: String,
    pub enabled: i64,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<EndpointRow> for Endpoint {
    fn from(row: EndpointRow) -> Self {
        Endpoint {
            id: row.id,
            url: row.url,
            events: serde_json::from_str(&row.events).unwrap_or_default(),
            description: row.description,
            enabled: row.enabled != 0,
            disabled_reason: row.disabled_reason,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// What an endpoint is made of.
pub struct EndpointFields<'a> {
    pub url: &'a str,
    /// A JSON array.
    pub events: &'a str,
    pub description: &'a str,
    pub enabled: bool,
}

/// What a change of an endpoint gives; `None` leaves that column as it is.
pub struct EndpointChanges<'a> {
    pub url: Option<&'a str>,
    /// A JSON array.
    pub events: Option<&'a str>,
    pub description: Option<&'a str>,
    pub enabled: Option<bool>,
}

const ENDPOINT_COLUMNS: &str =
    "id, url, events, description, enabled, disabled_reason, created_at, updated_at";

impl Store {
    pub async fn webhook_secrets(&self, account_id: &str) -> StoreResult<Option<SealedSecrets>> {
        let row: Option<SecretRow> = sqlx::query_as(
            "SELECT current_sealed, previous_sealed, previous_expires_at FROM webhook_secrets \
             WHERE account_id = $1",
        )
        .bind(account_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(SealedSecrets::from))
    }

    /// Stores the account's first secret, unless another request stored one first.
    pub async fn insert_webhook_secret(&self, account_id: &str, sealed: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_secrets (account_id, current_sealed, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(account_id)
        .bind(sealed)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Makes `new_sealed` current; the old one keeps counting until `previous_expires_at`.
    /// Only if the current one is still `old_sealed`: false when another rotation won.
    pub async fn rotate_webhook_secret(
        &self,
        account_id: &str,
        old_sealed: &str,
        new_sealed: &str,
        previous_expires_at: i64,
        actor: &Actor,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_secrets SET current_sealed = $3, previous_sealed = current_sealed, \
             previous_expires_at = $4, rotated_at = $5 WHERE account_id = $1 AND current_sealed = $2",
        )
        .bind(account_id)
        .bind(old_sealed)
        .bind(new_sealed)
        .bind(previous_expires_at)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        let change = Change {
            action: "webhooks.secret_rotated",
            target_type: "account",
            target_id: account_id,
            detail: serde_json::json!({ "previous_expires_at": crate::domain::time::rfc3339(previous_expires_at) }),
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Creates an endpoint unless the account already has `max`; audited.
    pub async fn create_webhook_endpoint(
        &self,
        account_id: &str,
        fields: &EndpointFields<'_>,
        max: i64,
        actor: &Actor,
    ) -> StoreResult<Option<Endpoint>> {
        let mut tx = self.pool().begin().await?;
        // Locks the account row on PostgreSQL, so that two creations cannot both pass
        // the count; SQLite serialises writers anyway.
        sqlx::query("UPDATE accounts SET name = name WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_endpoints WHERE account_id = $1")
                .bind(account_id)
                .fetch_one(&mut *tx)
                .await?;
        if n >= max {
            return Ok(None);
        }
        let id = String::from(EndpointId::new());
        let now = now_ms();
        let row: EndpointRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoints (id, account_id, url, events, description, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(&id)
        .bind(account_id)
        .bind(fields.url)
        .bind(fields.events)
        .bind(fields.description)
        .bind(i64::from(fields.enabled))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let change = Change {
            action: "webhook.created",
            target_type: "webhook",
            target_id: &id,
            detail: serde_json::json!({ "url": fields.url }),
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    pub async fn webhook_endpoints(&self, account_id: &str) -> StoreResult<Vec<Endpoint>> {
        let rows: Vec<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 ORDER BY id"
        )))
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Endpoint::from).collect())
    }

    pub async fn webhook_endpoint(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<Endpoint>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE account_id = $1 AND id = $2"
        )))
        .bind(account_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(|row: EndpointRow| row.into()))
    }

    /// Changes the fields given and nothing else, in the UPDATE itself (an absent field
    /// binds NULL and keeps its column), so that concurrent changes of different fields
    /// all stay. Enabling it again clears why it was disabled and its failing streak,
    /// and a new URL or enabling it again ends a pause its receiver asked for: judged
    /// against the row as it was just before this UPDATE. Audited with the row after it.
    pub async fn update_webhook_endpoint(
        &self,
        account_id: &str,
        id: &str,
        changes: &EndpointChanges<'_>,
        actor: &Actor,
    ) -> StoreResult<Option<Endpoint>> {
        let mut tx = self.pool().begin().await?;
        // `$6 = 1` is unknown, so false, when `enabled` is not given (NULL).
        let row: Option<EndpointRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE webhook_endpoints SET url = COALESCE($3, url), events = COALESCE($4, events), \
             description = COALESCE($5, description), enabled = COALESCE($6, enabled), \
             disabled_reason = CASE WHEN $6 = 1 THEN NULL ELSE disabled_reason END, \
             failing_since = CASE WHEN $6 = 1 AND enabled = 0 THEN NULL ELSE failing_since END, \
             paused_until = CASE WHEN url <> COALESCE($3, url) OR ($6 = 1 AND enabled = 0) \
             THEN NULL ELSE paused_until END, \
             updated_at = $7 \
             WHERE account_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(account_id)
        .bind(id)
        .bind(changes.url)
        .bind(changes.events)
        .bind(changes.description)
        .bind(changes.enabled.map(i64::from))
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = &row {
            let change = Change {
                action: "webhook.updated",
                target_type: "webhook",
                target_id: id,
                detail: serde_json::json!({ "url": row.url, "enabled": row.enabled != 0 }),
            };
            audit::record(&mut *tx, account_id, actor, change).await?;
        }
        tx.commit().await?;
        Ok(row.map(Endpoint::from))
    }

    pub async fn delete_webhook_endpoint(
        &self,
        account_id: &str,
        id: &str,
        actor: &Actor,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE account_id = $1 AND id = $2")
            .bind(account_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            let change = Change {
                action: "webhook.deleted",
                target_type: "webhook",
                target_id: id,
                detail: serde_json::json!({}),
            };
            audit::record(&mut *tx, account_id, actor, change).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
