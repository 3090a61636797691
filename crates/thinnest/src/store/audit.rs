//! The audit log: one row per change to an account's security-relevant objects,
//! written in the same transaction as the change.

use super::Store;
use super::StoreResult;
use crate::domain::audit::{AuditEntry, Reference};
use crate::domain::ids::AuditEntryId;
use crate::domain::time::{now_ms, rfc3339};

pub use crate::domain::actors::Actor;

/// Which entries to list: empty texts match every action and actor.
pub struct AuditFilter<'a> {
    pub action: &'a str,
    pub actor_id: &'a str,
    /// Unix ms, inclusive and exclusive.
    pub since: i64,
    pub until: i64,
}

/// One change: what happened to which object, with details as a JSON object.
pub struct Change<'a> {
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: &'a str,
    pub detail: serde_json::Value,
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    id: String,
    actor_type: String,
    actor_id: String,
    action: String,
    target_type: String,
    target_id: String,
    client_ip: Option<String>,
    detail: String,
    /// How many times it happened (repeats within a minute are folded into one entry).
    repeats: i64,
    created_at: i64,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            action: row.action,
            actor: Reference {
                kind: row.actor_type,
                id: row.actor_id,
            },
            target: Reference {
                kind: row.target_type,
                id: row.target_id,
            },
            client_ip: row.client_ip,
            detail: serde_json::from_str(&row.detail).unwrap_or_default(),
            count: row.repeats,
            created_at: rfc3339(row.created_at),
        }
    }
}

/// Records a change, in the caller's transaction.
pub async fn record<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    account_id: &str,
    actor: &Actor,
    change: Change<'_>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, account_id, actor_type, actor_id, action, target_type, target_id, \
         client_ip, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(String::from(AuditEntryId::new()))
    .bind(account_id)
    .bind(actor.kind)
    .bind(&actor.id)
    .bind(change.action)
    .bind(change.target_type)
    .bind(change.target_id)
    .bind(actor.client_ip.as_deref())
    .bind(change.detail.to_string())
    .bind(now_ms())
    .execute(executor)
    .await?;
    Ok(())
}

/// Records something that happened to a person in the audit log of every workspace
/// they belong to, inside the caller's transaction.
pub async fn record_for_user(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    actor: &Actor,
    action: &'static str,
    detail: serde_json::Value,
) -> StoreResult<()> {
    let accounts: Vec<(String,)> =
        sqlx::query_as("SELECT account_id FROM memberships WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?;
    for (account_id,) in accounts {
        let change = Change {
            action,
            target_type: "user",
            target_id: user_id,
            detail: detail.clone(),
        };
        record(&mut **tx, &account_id, actor, change).await?;
    }
    Ok(())
}

impl Store {
    /// Records something that happened to a person in the audit log of every
    /// workspace they belong to, so that each workspace's Admins see it.
    pub async fn record_user_event(
        &self,
        user_id: &str,
        actor: &Actor,
        action: &'static str,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        record_for_user(&mut tx, user_id, actor, action, serde_json::json!({})).await?;
        Ok(tx.commit().await?)
    }

    /// Records a failed sign-in in each of the person's workspaces: one entry per person,
    /// client (`bucket`: an IPv4 address or an IPv6 /64) and minute, counting the
    /// attempts, however many there are.
    pub async fn record_failed_sign_in(
        &self,
        user_id: &str,
        actor: &Actor,
        bucket: &str,
    ) -> StoreResult<()> {
        const ACTION: &str = "user.sign_in_failed";
        let now = now_ms();
        let fold = format!("{ACTION}|{user_id}|{bucket}|{}", now / 60_000);
        let mut tx = self.begin_write().await?;
        let accounts: Vec<(String,)> =
            sqlx::query_as("SELECT account_id FROM memberships WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        for (account_id,) in accounts {
            sqlx::query(
                "INSERT INTO audit_log (id, account_id, actor_type, actor_id, action, target_type, \
                 target_id, client_ip, detail, created_at, fold_key) \
                 VALUES ($1, $2, $3, $4, $5, 'user', $6, $7, '{}', $8, $9) \
                 ON CONFLICT (account_id, fold_key) DO UPDATE SET repeats = audit_log.repeats + 1",
            )
            .bind(String::from(AuditEntryId::new()))
            .bind(&account_id)
            .bind(actor.kind)
            .bind(&actor.id)
            .bind(ACTION)
            .bind(user_id)
            .bind(actor.client_ip.as_deref())
            .bind(now)
            .bind(&fold)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }

    /// Like [`Store::audit_entries`], of the entries that match `filter`.
    pub async fn find_audit_entries(
        &self,
        account_id: &str,
        filter: &AuditFilter<'_>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, actor_type, actor_id, action, target_type, target_id, client_ip, detail, repeats, created_at \
             FROM audit_log WHERE account_id = $1 AND ($2 = '' OR id < $2) AND ($3 = '' OR action = $3) \
             AND ($4 = '' OR actor_id = $4) AND created_at >= $5 AND created_at < $6 ORDER BY id DESC LIMIT $7",
        )
        .bind(account_id)
        .bind(before.unwrap_or(""))
        .bind(filter.action)
        .bind(filter.actor_id)
        .bind(filter.since)
        .bind(filter.until)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// Newest first; `before` is the id of the last entry of the previous page.
    pub async fn audit_entries(
        &self,
        account_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, actor_type, actor_id, action, target_type, target_id, client_ip, detail, repeats, created_at \
             FROM audit_log WHERE account_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(account_id)
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}
