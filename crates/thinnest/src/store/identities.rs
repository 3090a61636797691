//! Identities at other providers linked to users, flows in progress, and links
//! waiting for a password.

use super::Store;
use super::audit::{Actor, record_for_user};
use crate::clock::now_ms;
use crate::ids::new_id;

/// A linked identity as the security page lists it.
#[derive(Debug, sqlx::FromRow)]
pub struct IdentityRow {
    pub id: String,
    pub provider: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A flow in progress, as its callback finds it.
#[derive(Debug, sqlx::FromRow)]
pub struct FlowRow {
    pub provider: String,
    pub link_user_id: Option<String>,
}

/// A provider identity and what the provider said about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NewIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
}

/// A link waiting for the password of the account it would join.
#[derive(Debug, sqlx::FromRow)]
pub struct PendingLink {
    pub user_id: String,
    #[sqlx(flatten)]
    pub identity: NewIdentity,
}

/// What unlinking did.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    NotFound,
    /// It is the user's only way to sign in.
    LastMethod,
}

impl Store {
    /// The user an identity belongs to; its last use is noted.
    pub async fn identity_owner(
        &self,
        issuer: &str,
        subject: &str,
    ) -> sqlx::Result<Option<String>> {
        let owner: Option<(String,)> = sqlx::query_as(
            "UPDATE identities SET last_used_at = $3 WHERE issuer = $1 AND subject = $2 \
             RETURNING user_id",
        )
        .bind(issuer)
        .bind(subject)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(owner.map(|(id,)| id))
    }

    /// Links an identity to a user, audited in the same transaction. False when the
    /// identity is already linked (to anyone).
    pub async fn link_identity(
        &self,
        user_id: &str,
        identity: &NewIdentity,
        actor: &Actor,
    ) -> sqlx::Result<bool> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO identities (id, user_id, provider, issuer, subject, email, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (issuer, subject) DO NOTHING",
        )
        .bind(new_id("idn"))
        .bind(user_id)
        .bind(&identity.provider)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .bind(&identity.email)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let detail = serde_json::json!({ "provider": identity.provider });
        record_for_user(&mut tx, user_id, actor, "user.identity_linked", detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn user_identities(&self, user_id: &str) -> sqlx::Result<Vec<IdentityRow>> {
        sqlx::query_as(
            "SELECT id, provider, email, created_at, last_used_at FROM identities \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await
    }

    /// Unlinks one of the user's identities, unless the user could no longer sign in.
    /// The user's row is locked so that two unlinks cannot both pass the check.
    pub async fn unlink_identity(
        &self,
        user_id: &str,
        identity_id: &str,
        actor: &Actor,
    ) -> sqlx::Result<Unlinked> {
        let mut tx = self.pool().begin().await?;
        // Locks the user's row on PostgreSQL; SQLite serialises writers anyway.
        let (password_hash,): (Option<String>,) =
            sqlx::query_as("UPDATE users SET email = email WHERE id = $1 RETURNING password_hash")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
        let identities: Vec<(String, String)> =
            sqlx::query_as("SELECT id, provider FROM identities WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        let Some((_, provider)) = identities.iter().find(|(id, _)| id == identity_id) else {
            return Ok(Unlinked::NotFound);
        };
        if password_hash.is_none() && identities.len() == 1 {
            return Ok(Unlinked::LastMethod);
        }
        sqlx::query("DELETE FROM identities WHERE id = $1")
            .bind(identity_id)
            .execute(&mut *tx)
            .await?;
        let detail = serde_json::json!({ "provider": provider });
        record_for_user(&mut tx, user_id, actor, "user.identity_unlinked", detail).await?;
        tx.commit().await?;
        Ok(Unlinked::Done)
    }

    pub async fn insert_oauth_flow(
        &self,
        state_hash: &str,
        provider: &str,
        link_user_id: Option<&str>,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO oauth_flows (state_hash, provider, link_user_id, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(state_hash)
        .bind(provider)
        .bind(link_user_id)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes a flow: it is deleted, so its state works once, on any instance.
    pub async fn take_oauth_flow(&self, state_hash: &str) -> sqlx::Result<Option<FlowRow>> {
        let flow: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "DELETE FROM oauth_flows WHERE state_hash = $1 \
             RETURNING provider, link_user_id, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(flow
            .filter(|(_, _, expires_at)| *expires_at > now_ms())
            .map(|(provider, link_user_id, _)| FlowRow {
                provider,
                link_user_id,
            }))
    }

    pub async fn insert_pending_link(
        &self,
        token_hash: &str,
        user_id: &str,
        identity: &NewIdentity,
        expires_at: i64,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO pending_links (token_hash, user_id, provider, issuer, subject, email, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(&identity.provider)
        .bind(&identity.issuer)
        .bind(&identity.subject)
        .bind(&identity.email)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn pending_link(&self, token_hash: &str) -> sqlx::Result<Option<PendingLink>> {
        sqlx::query_as(
            "SELECT user_id, provider, issuer, subject, email FROM pending_links \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await
    }

    pub async fn delete_pending_link(&self, token_hash: &str) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM pending_links WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A user who never finished signing up (no password, address unconfirmed, no
    /// identity): a provider that verified the address may claim it.
    pub async fn is_unclaimed(&self, user_id: &str) -> sqlx::Result<bool> {
        let (identities,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM identities WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(self.pool())
                .await?;
        let (password_hash, verified_at): (Option<String>, Option<i64>) =
            sqlx::query_as("SELECT password_hash, email_verified_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_one(self.pool())
                .await?;
        Ok(identities == 0 && password_hash.is_none() && verified_at.is_none())
    }

    /// Hands an unconfirmed sign-up to the verified owner of its address: the address
    /// counts as verified, and the links sent for that sign-up stop working.
    pub async fn claim_user(&self, user_id: &str) -> sqlx::Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET email_verified_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM email_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}
