//! Accounts (workspaces), users and memberships.

use super::StoreResult;
use sqlx::Row;

use super::Store;
use super::audit::{self, Actor, Change};
use crate::domain::ids::AccountId;
use crate::domain::roles::Role;
use crate::domain::time::now_ms;

/// Inserts an account with `user_id` as its Admin, inside the caller's transaction.
pub async fn insert_account(
    tx: &mut sqlx::AnyConnection,
    name: &str,
    user_id: &str,
) -> StoreResult<String> {
    let id = String::from(AccountId::new());
    let now = now_ms();
    sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(Role::Admin.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

impl Store {
    /// The user with this (normalised) email, created when missing.
    pub async fn user_by_email_or_create(&self, email: &str) -> StoreResult<String> {
        self.create_user(email).await?;
        Ok(sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(self.pool())
            .await?
            .try_get("id")?)
    }

    /// An account of which `user_id` is an Admin, found by name.
    pub async fn admin_account_named(
        &self,
        user_id: &str,
        name: &str,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query(
            "SELECT a.id FROM accounts a JOIN memberships m ON m.account_id = a.id \
             WHERE m.user_id = $1 AND m.role = $2 AND a.name = $3 ORDER BY a.id LIMIT 1",
        )
        .bind(user_id)
        .bind(Role::Admin.as_str())
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .map(|row| row.try_get("id"))
        .transpose()?)
    }

    /// The email of every member of the account, by user id.
    pub async fn member_emails(
        &self,
        account_id: &str,
    ) -> StoreResult<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = $1",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// A new account with `user_id` as its first Admin.
    pub async fn create_account(&self, name: &str, user_id: &str) -> StoreResult<String> {
        let mut tx = self.pool().begin().await?;
        let id = insert_account(&mut tx, name, user_id).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn billing_email(&self, account_id: &str) -> StoreResult<Option<String>> {
        let (email,): (Option<String>,) =
            sqlx::query_as("SELECT billing_email FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_one(self.pool())
                .await?;
        Ok(email)
    }

    /// Sets (or clears) the billing contact, audited in the same transaction.
    pub async fn set_billing_email(
        &self,
        account_id: &str,
        email: Option<&str>,
        actor: &Actor,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE accounts SET billing_email = $2 WHERE id = $1")
            .bind(account_id)
            .bind(email)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            action: "billing.updated",
            target_type: "account",
            target_id: account_id,
            detail: serde_json::json!({ "billing_email": email }),
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        Ok(tx.commit().await?)
    }

    /// The account's rate-limit overrides as stored (`{"agent_crud": 2}`), if the account exists.
    pub async fn rate_limit_overrides(&self, account_id: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT rate_limits FROM accounts WHERE id = $1")
                .bind(account_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(text,)| text))
    }

    /// Replaces the account's overrides, recording the change in the audit log.
    pub async fn set_rate_limit_overrides(
        &self,
        account_id: &str,
        json: &str,
        actor: &Actor,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE accounts SET rate_limits = $2 WHERE id = $1")
            .bind(account_id)
            .bind(json)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            action: "account.rate_limits_changed",
            target_type: "account",
            target_id: account_id,
            detail,
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        super::key_changes::note(&mut tx, account_id).await?;
        Ok(tx.commit().await?)
    }
}
