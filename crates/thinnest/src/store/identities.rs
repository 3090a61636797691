//! Identities at other providers linked to users, flows in progress, and links
//! waiting for a password.

use super::Store;
use super::StoreResult;
use super::accounts::insert_account;
use super::audit::{Actor, record_for_user};
use crate::domain::identities::{Flow, Identity, NewIdentity, PendingLink};
use crate::domain::ids::{IdentityId, UserId};
use crate::domain::time::now_ms;

/// A linked identity's row; the store answers with [`Identity`]s.
#[derive(sqlx::FromRow)]
struct IdentityRow {
    id: String,
    provider: String,
    email: Option<String>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<IdentityRow> for Identity {
    fn from(row: IdentityRow) -> Identity {
        Identity {
            id: row.id,
            provider: row.provider,
            email: row.email,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// A link's row, waiting for a password; the store answers with [`PendingLink`]s.
#[derive(sqlx::FromRow)]
struct PendingLinkRow {
    user_id: String,
    provider: String,
    issuer: String,
    subject: String,
    email: Option<String>,
}

impl From<PendingLinkRow> for PendingLink {
    fn from(row: PendingLinkRow) -> PendingLink {
        PendingLink {
            user_id: row.user_id,
            identity: NewIdentity {
                provider: row.provider,
                issuer: row.issuer,
                subject: row.subject,
                email: row.email,
            },
        }
    }
}

/// What unlinking did.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    NotFound,
    /// It is the user's only way to sign in.
    LastMethod,
}

/// Inserts an identity and audits it, inside the caller's transaction; false when
/// the identity is already someone's.
async fn insert_identity(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    identity: &NewIdentity,
    actor: &Actor,
) -> StoreResult<bool> {
    let now = now_ms();
    let done = sqlx::query(
        "INSERT INTO identities (id, user_id, provider, issuer, subject, email, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (issuer, subject) DO NOTHING",
    )
    .bind(String::from(IdentityId::new()))
    .bind(user_id)
    .bind(&identity.provider)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(&identity.email)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let detail = serde_json::json!({ "provider": identity.provider });
    record_for_user(tx, user_id, actor, "user.identity_linked", detail).await?;
    Ok(true)
}

impl Store {
    /// The user an identity belongs to.
    pub async fn identity_owner(&self, issuer: &str, subject: &str) -> StoreResult<Option<String>> {
        let owner: Option<(String,)> =
            sqlx::query_as("SELECT user_id FROM identities WHERE issuer = $1 AND subject = $2")
                .bind(issuer)
                .bind(subject)
                .fetch_optional(self.pool())
                .await?;
        Ok(owner.map(|(id,)| id))
    }

    /// Notes that an identity just signed its owner in.
    pub async fn touch_identity(&self, issuer: &str, subject: &str) -> StoreResult<()> {
        sqlx::query("UPDATE identities SET last_used_at = $3 WHERE issuer = $1 AND subject = $2")
            .bind(issuer)
            .bind(subject)
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Links an identity to a user, audited in the same transaction. False when the
    /// identity is already linked (to anyone).
    pub async fn link_identity(
        &self,
        user_id: &str,
        identity: &NewIdentity,
        actor: &Actor,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        if !insert_identity(&mut tx, user_id, identity, actor).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// A person's first sign-in through a provider, in one transaction: the user
    /// (new, or `unconfirmed`: a sign-up never confirmed and in no workspace, whose
    /// links stop working), with the address verified, a workspace of their own,
    /// and the identity. `None` if the address or the identity was taken meanwhile.
    pub async fn first_sign_in(
        &self,
        unconfirmed: Option<&str>,
        email: &str,
        workspace_name: &str,
        identity: &NewIdentity,
        client_ip: std::net::IpAddr,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.pool().begin().await?;
        let now = now_ms();
        let user_id = unconfirmed.map_or_else(|| String::from(UserId::new()), str::to_owned);
        let done = match unconfirmed {
            None => sqlx::query(
                "INSERT INTO users (id, email, created_at, email_verified_at) VALUES ($1, $2, $3, $3) \
                 ON CONFLICT (email) DO NOTHING",
            )
            .bind(&user_id)
            .bind(email)
            .bind(now)
            .execute(&mut *tx)
            .await?,
            Some(_) => sqlx::query(
                "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND password_hash IS NULL \
                 AND email_verified_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1) \
                 AND NOT EXISTS (SELECT 1 FROM identities WHERE user_id = $1)",
            )
            .bind(&user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?,
        };
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM email_tokens WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        insert_account(&mut tx, workspace_name, &user_id).await?;
        let actor = Actor::user(&user_id, client_ip);
        if !insert_identity(&mut tx, &user_id, identity, &actor).await? {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(user_id))
    }

    pub async fn user_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>> {
        let rows: Vec<IdentityRow> = sqlx::query_as(
            "SELECT id, provider, email, created_at, last_used_at FROM identities \
             WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    /// Unlinks one of the user's identities, unless the user could no longer sign in.
    /// The user's row is locked so that two unlinks cannot both pass the check.
    pub async fn unlink_identity(
        &self,
        user_id: &str,
        identity_id: &str,
        actor: &Actor,
    ) -> StoreResult<Unlinked> {
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
    ) -> StoreResult<()> {
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
    pub async fn take_oauth_flow(&self, state_hash: &str) -> StoreResult<Option<Flow>> {
        let flow: Option<(String, Option<String>, i64)> = sqlx::query_as(
            "DELETE FROM oauth_flows WHERE state_hash = $1 \
             RETURNING provider, link_user_id, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(flow
            .filter(|(_, _, expires_at)| *expires_at > now_ms())
            .map(|(provider, link_user_id, _)| Flow {
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
    ) -> StoreResult<()> {
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

    pub async fn pending_link(&self, token_hash: &str) -> StoreResult<Option<PendingLink>> {
        let row: Option<PendingLinkRow> = sqlx::query_as(
            "SELECT user_id, provider, issuer, subject, email FROM pending_links \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(PendingLink::from))
    }

    pub async fn delete_pending_link(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM pending_links WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
