//! Workspace members and invitations.

use super::audit::{self, Actor, Change};
use super::outbox::publish;
use super::{Store, StoreError, StoreResult};
use crate::domain::events::{Event, Invitation, Member};
use crate::domain::ids::InvitationId;
use crate::domain::roles::Role;
use crate::domain::team;
use crate::domain::time::{now_ms, rfc3339};

/// A membership's row with the member's email; the store answers with [`team::Member`]s.
#[derive(sqlx::FromRow)]
struct MemberRow {
    user_id: String,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
    created_at: i64,
}

impl From<MemberRow> for team::Member {
    fn from(row: MemberRow) -> team::Member {
        team::Member {
            user_id: row.user_id,
            email: row.email,
            role: row.role,
            created_at: row.created_at,
        }
    }
}

/// An invitation's row; the store answers with [`team::Invitation`]s.
#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    email: String,
    #[sqlx(try_from = "String")]
    role: Role,
    expires_at: i64,
}

impl From<InvitationRow> for team::Invitation {
    fn from(row: InvitationRow) -> team::Invitation {
        team::Invitation {
            id: row.id,
            email: row.email,
            role: row.role,
            expires_at: row.expires_at,
        }
    }
}

/// What a new invitation is made of.
pub struct NewInvitation<'a> {
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a str,
    pub expires_at: i64,
    pub invited_by: &'a str,
}

/// Why a membership change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    NotFound,
    /// The workspace would be left without an Admin.
    LastAdmin,
}

/// Cancels the open invitations someone made: once no longer an Admin, their
/// invitations may not bring anyone in.
async fn cancel_invitations_by(
    tx: &mut sqlx::AnyConnection,
    account_id: &str,
    user_id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE invitations SET cancelled_at = $3 WHERE account_id = $1 AND invited_by = $2 \
         AND accepted_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(account_id)
    .bind(user_id)
    .bind(now_ms())
    .execute(tx)
    .await?;
    Ok(())
}

impl Store {
    pub async fn members(&self, account_id: &str) -> StoreResult<Vec<team::Member>> {
        let rows: Vec<MemberRow> = sqlx::query_as(
            "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.account_id = $1 ORDER BY m.created_at, u.email",
        )
        .bind(account_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(team::Member::from).collect())
    }

    /// Open invitations: neither accepted, cancelled nor expired.
    pub async fn invitations(&self, account_id: &str) -> StoreResult<Vec<team::Invitation>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(
            "SELECT id, email, role, expires_at FROM invitations WHERE account_id = $1 \
             AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at > $2 ORDER BY id DESC",
        )
        .bind(account_id)
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(team::Invitation::from).collect())
    }

    pub async fn invitation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<team::Invitation>> {
        let row: Option<InvitationRow> = sqlx::query_as(
            "SELECT id, email, role, expires_at FROM invitations WHERE account_id = $1 AND id = $2 \
             AND accepted_at IS NULL AND cancelled_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(team::Invitation::from))
    }

    /// A new invitation, recorded in the audit log.
    pub async fn invite(
        &self,
        account_id: &str,
        invitation: &NewInvitation<'_>,
        actor: &Actor,
    ) -> StoreResult<String> {
        let id = String::from(InvitationId::new());
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO invitations (id, account_id, email, role, token_hash, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(invitation.email)
        .bind(invitation.role.as_str())
        .bind(invitation.token_hash)
        .bind(invitation.invited_by)
        .bind(now_ms())
        .bind(invitation.expires_at)
        .execute(&mut *tx)
        .await?;
        let detail =
            serde_json::json!({"email": invitation.email, "role": invitation.role.as_str()});
        let change = Change {
            action: "member.invited",
            target_type: "invitation",
            target_id: &id,
            detail,
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        let event = Event::MemberInvited(Invitation {
            id: id.clone(),
            email: invitation.email.to_owned(),
            role: invitation.role,
            invited_by: invitation.invited_by.to_owned(),
            expires_at: rfc3339(invitation.expires_at),
        });
        publish(&mut tx, account_id, &event).await?;
        self.commit_events(tx).await?;
        Ok(id)
    }

    pub async fn cancel_invitation(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE invitations SET cancelled_at = $3 WHERE account_id = $1 AND id = $2 \
             AND accepted_at IS NULL AND cancelled_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Accepts an open invitation for `email` on behalf of `user_id`: the user joins
    /// with the invited role; an existing member keeps their role. Returns the workspace.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        user_id: &str,
        email: &str,
        actor: &Actor,
    ) -> StoreResult<Option<String>> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let row: Option<(String, String, String)> = sqlx::query_as(
            "UPDATE invitations SET accepted_at = $3 WHERE token_hash = $1 AND email = $2 \
             AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at > $3 \
             RETURNING id, account_id, role",
        )
        .bind(token_hash)
        .bind(email)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, account_id, role)) = row else {
            return Ok(None);
        };
        let joined = sqlx::query(
            "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (account_id, user_id) DO NOTHING",
        )
        .bind(&account_id)
        .bind(user_id)
        .bind(&role)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let detail = serde_json::json!({"email": email, "role": role, "invitation": id});
        let change = Change {
            action: "member.joined",
            target_type: "user",
            target_id: user_id,
            detail,
        };
        audit::record(&mut *tx, &account_id, actor, change).await?;
        if joined {
            let event = Event::MemberJoined(Member {
                user_id: user_id.to_owned(),
                email: email.to_owned(),
                role: Role::try_from(role).map_err(|e| StoreError::Unreadable(e.to_string()))?,
            });
            publish(&mut tx, &account_id, &event).await?;
        }
        self.commit_events(tx).await?;
        Ok(Some(account_id))
    }

    /// Counts the other Admins, after locking the account row, so that two changes
    /// racing on PostgreSQL cannot both see an Admin the other is removing.
    async fn admins_besides(
        &self,
        tx: &mut sqlx::AnyConnection,
        account_id: &str,
        user_id: &str,
    ) -> StoreResult<i64> {
        sqlx::query("UPDATE accounts SET name = name WHERE id = $1")
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND role = 'admin' AND user_id <> $2",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_one(tx)
        .await?;
        Ok(n)
    }

    /// Changes a member's role; the last Admin cannot be demoted.
    pub async fn set_member_role(
        &self,
        account_id: &str,
        user_id: &str,
        role: Role,
        actor: &Actor,
    ) -> StoreResult<MemberChange> {
        let mut tx = self.pool().begin().await?;
        if role != Role::Admin && self.admins_besides(&mut tx, account_id, user_id).await? == 0 {
            return Ok(MemberChange::LastAdmin);
        }
        let done =
            sqlx::query("UPDATE memberships SET role = $3 WHERE account_id = $1 AND user_id = $2")
                .bind(account_id)
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(MemberChange::NotFound);
        }
        if role != Role::Admin {
            cancel_invitations_by(&mut tx, account_id, user_id).await?;
        }
        let change = Change {
            action: "member.role_changed",
            target_type: "user",
            target_id: user_id,
            detail: serde_json::json!({"role": role.as_str()}),
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        tx.commit().await?;
        Ok(MemberChange::Done)
    }

    /// Removes a member, ending their sessions in the workspace; never the last Admin.
    /// The workspace's API keys stay: they belong to the workspace.
    pub async fn remove_member(
        &self,
        account_id: &str,
        user_id: &str,
        actor: &Actor,
    ) -> StoreResult<MemberChange> {
        let mut tx = self.pool().begin().await?;
        if self.admins_besides(&mut tx, account_id, user_id).await? == 0 {
            return Ok(MemberChange::LastAdmin);
        }
        let removed: Option<(String,)> = sqlx::query_as(
            "DELETE FROM memberships WHERE account_id = $1 AND user_id = $2 RETURNING role",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((role,)) = removed else {
            return Ok(MemberChange::NotFound);
        };
        let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        cancel_invitations_by(&mut tx, account_id, user_id).await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let change = Change {
            action: "member.removed",
            target_type: "user",
            target_id: user_id,
            detail: serde_json::json!({}),
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        let event = Event::MemberRemoved(Member {
            user_id: user_id.to_owned(),
            email,
            role: Role::try_from(role).map_err(|e| StoreError::Unreadable(e.to_string()))?,
        });
        publish(&mut tx, account_id, &event).await?;
        self.commit_events(tx).await?;
        Ok(MemberChange::Done)
    }

    /// How many active API keys each member of the account created.
    pub async fn active_keys_by_creator(
        &self,
        account_id: &str,
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT created_by, COUNT(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2) GROUP BY created_by",
        )
        .bind(account_id)
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// The email an open invitation is for, found by its link's token.
    pub async fn invitation_email(&self, token_hash: &str) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT email FROM invitations WHERE token_hash = $1 AND accepted_at IS NULL \
             AND cancelled_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(e,)| e))
    }

    /// Moves a session to another workspace of its user.
    pub async fn switch_session(
        &self,
        session_id: &str,
        user_id: &str,
        account_id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET account_id = $3 WHERE id = $1 AND user_id = $2 AND EXISTS \
             (SELECT 1 FROM memberships WHERE account_id = $3 AND user_id = $2)",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(account_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
