//! People: passwords, email tokens, dashboard sessions and sign-in back-off.

use super::Store;
use super::StoreResult;
use crate::domain::ids::{SessionId, UserId};
use crate::domain::people::{Session, SessionInfo, User};
use crate::domain::roles::Role;
use crate::domain::time::now_ms;

/// A user's row; the store answers with [`User`]s.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    password_hash: Option<String>,
    email_verified_at: Option<i64>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            id: row.id,
            email: row.email,
            password_hash: row.password_hash,
            email_verified_at: row.email_verified_at,
        }
    }
}

/// A session's row with its user, workspace and role; the store answers with
/// [`Session`]s.
#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: String,
    email: String,
    account_id: String,
    account_name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    last_seen_at: i64,
    expires_at: i64,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Session {
        Session {
            id: row.id,
            user_id: row.user_id,
            email: row.email,
            account_id: row.account_id,
            account_name: row.account_name,
            role: row.role,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        }
    }
}

/// A session's row as the security page lists it.
#[derive(sqlx::FromRow)]
struct SessionInfoRow {
    id: String,
    created_at: i64,
    last_seen_at: i64,
    client_ip: String,
    user_agent: String,
}

impl From<SessionInfoRow> for SessionInfo {
    fn from(row: SessionInfoRow) -> SessionInfo {
        SessionInfo {
            id: row.id,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
        }
    }
}

/// What a new session is made of.
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user_id: &'a str,
    pub account_id: &'a str,
    pub expires_at: i64,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
}

pub const VERIFY_EMAIL: &str = "verify_email";
/// Sign-ups not confirmed within this many days are deleted.
pub const UNCONFIRMED_SIGN_UP_DAYS: i64 = 7;
pub const RESET_PASSWORD: &str = "reset_password";

impl Store {
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT id, email, password_hash, email_verified_at FROM users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(User::from))
    }

    pub async fn user_email(&self, user_id: &str) -> StoreResult<String> {
        let (email,): (String,) = sqlx::query_as("SELECT email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(self.pool())
            .await?;
        Ok(email)
    }

    /// A new, unverified user without a password (it waits on the sign-up link),
    /// unless the email is taken.
    pub async fn create_user(&self, email: &str) -> StoreResult<Option<String>> {
        let id = String::from(UserId::new());
        let done = sqlx::query(
            "INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&id)
        .bind(email)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok((done.rows_affected() == 1).then_some(id))
    }

    /// Sets the password; every emailed link of the user stops working.
    pub async fn set_password(&self, user_id: &str, password_hash: &str) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(user_id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM email_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        Ok(tx.commit().await?)
    }

    pub async fn mark_email_verified(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET email_verified_at = $2 WHERE id = $1 AND email_verified_at IS NULL",
        )
        .bind(user_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The workspaces the user belongs to, with the user's role, oldest first.
    pub async fn workspaces(&self, user_id: &str) -> StoreResult<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.name, m.role FROM memberships m JOIN accounts a ON a.id = m.account_id \
             WHERE m.user_id = $1 ORDER BY m.created_at, a.id",
        )
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Stores a link's token; a sign-up link also holds the password chosen with it.
    pub async fn insert_email_token(
        &self,
        user_id: &str,
        purpose: &str,
        token_hash: &str,
        expires_at: i64,
        password_hash: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at, password_hash) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose)
        .bind(expires_at)
        .bind(password_hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The user and pending password of an open sign-up link, without spending it.
    pub async fn pending_sign_up(&self, token_hash: &str) -> StoreResult<Option<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT user_id, password_hash FROM email_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 AND password_hash IS NOT NULL",
        )
        .bind(token_hash)
        .bind(VERIFY_EMAIL)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?)
    }

    /// The user of an open link (this purpose, unexpired, unused), without spending it.
    pub async fn email_token_user(
        &self,
        purpose: &str,
        token_hash: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT user_id FROM email_tokens WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// Spends a token: its user, if it exists for this purpose, is unexpired and unused.
    /// Of two uses racing, one wins.
    pub async fn use_email_token(
        &self,
        purpose: &str,
        token_hash: &str,
    ) -> StoreResult<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(
            "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
        )
        .bind(token_hash)
        .bind(purpose)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id,)| id))
    }

    pub async fn insert_session(&self, s: &NewSession<'_>) -> StoreResult<String> {
        let id = String::from(SessionId::new());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, account_id, created_at, last_seen_at, \
             expires_at, client_ip, user_agent) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(s.token_hash)
        .bind(s.user_id)
        .bind(s.account_id)
        .bind(now)
        .bind(s.expires_at)
        .bind(s.client_ip)
        .bind(s.user_agent)
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// The session with this token, while its user is still a member of its workspace.
    pub async fn session_by_hash(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.id, s.user_id, u.email, s.account_id, a.name AS account_name, m.role, \
             s.last_seen_at, s.expires_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             JOIN accounts a ON a.id = s.account_id \
             JOIN memberships m ON m.account_id = s.account_id AND m.user_id = s.user_id \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Session::from))
    }

    /// Records activity, at most once a minute.
    pub async fn touch_session(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $3")
            .bind(id)
            .bind(now)
            .bind(now - 60_000)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends every session of the user but `keep` (none: all).
    pub async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn user_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<SessionInfo>> {
        let rows: Vec<SessionInfoRow> = sqlx::query_as(
            "SELECT id, created_at, last_seen_at, client_ip, user_agent FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(SessionInfo::from).collect())
    }

    /// When sign-ins for this key (email and client address) are blocked until, if they are.
    pub async fn login_locked_until(&self, key: &str) -> StoreResult<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT locked_until FROM login_failures WHERE attempt_key = $1")
                .bind(key)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(t,)| t).filter(|&t| t > now_ms()))
    }

    /// Counts a failed sign-in and extends the lock; a lock never gets shorter.
    pub async fn count_login_failure(
        &self,
        key: &str,
        lock_for: impl Fn(i64) -> i64,
    ) -> StoreResult<()> {
        let (failures,): (i64,) = sqlx::query_as(
            "INSERT INTO login_failures (attempt_key, failures, locked_until) VALUES ($1, 1, 0) \
             ON CONFLICT (attempt_key) DO UPDATE SET failures = login_failures.failures + 1 \
             RETURNING failures",
        )
        .bind(key)
        .fetch_one(self.pool())
        .await?;
        let lock_ms = lock_for(failures);
        if lock_ms > 0 {
            sqlx::query(
                "UPDATE login_failures SET locked_until = CASE WHEN locked_until < $2 THEN $2 \
                 ELSE locked_until END WHERE attempt_key = $1",
            )
            .bind(key)
            .bind(now_ms() + lock_ms)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    pub async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_failures WHERE attempt_key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Deletes what can no longer be used: ended sessions, spent or expired links,
    /// sign-in failures untouched for a day, invitations closed a month ago, sign-ups
    /// never confirmed within a week.
    pub async fn purge_expired(&self, now: i64, idle_ms: i64) -> StoreResult<u64> {
        const DAY_MS: i64 = 24 * 3_600_000;
        let statements: [(&str, i64); 11] = [
            // A person with no password, no confirmed address, no workspace, no
            // provider sign-in, no key or invitation of theirs and no link still open
            // is a sign-up that never finished.
            (
                "DELETE FROM users WHERE created_at <= $1 - $2 AND password_hash IS NULL \
                 AND email_verified_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id) \
                 AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.user_id = users.id) \
                 AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.created_by = users.id) \
                 AND NOT EXISTS (SELECT 1 FROM invitations v WHERE v.invited_by = users.id) \
                 AND NOT EXISTS (SELECT 1 FROM email_tokens t WHERE t.user_id = users.id \
                   AND t.used_at IS NULL AND t.expires_at > $1)",
                UNCONFIRMED_SIGN_UP_DAYS * DAY_MS,
            ),
            ("DELETE FROM widget_sessions WHERE expires_at <= $1 - $2", 0),
            ("DELETE FROM oauth_flows WHERE expires_at <= $1 - $2", 0),
            ("DELETE FROM pending_links WHERE expires_at <= $1 - $2", 0),
            (
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $1 - $2",
                idle_ms,
            ),
            (
                "DELETE FROM email_tokens WHERE expires_at <= $1 OR used_at <= $1 - $2",
                0,
            ),
            (
                "DELETE FROM login_failures WHERE locked_until <= $1 - $2",
                DAY_MS,
            ),
            (
                "DELETE FROM invitations WHERE expires_at <= $1 - $2 OR accepted_at <= $1 - $2 \
                 OR cancelled_at <= $1 - $2",
                30 * DAY_MS,
            ),
            // Delivered webhook events, with their attempt logs, are kept for 30 days.
            (
                "DELETE FROM webhook_events WHERE created_at <= $1 - $2 AND NOT EXISTS \
                 (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id \
                 AND d.status = 'pending')",
                30 * DAY_MS,
            ),
            // The key-change feed keeps a day, and always its latest change, which
            // numbers the next one.
            (
                "DELETE FROM key_changes WHERE at <= $1 - $2 \
                 AND seq < (SELECT MAX(seq) FROM key_changes)",
                DAY_MS,
            ),
            (
                "DELETE FROM key_cache_instances WHERE seen_at <= $1 - $2",
                DAY_MS,
            ),
        ];
        // Each on its own: one that fails (and is logged) does not stop the others.
        let mut deleted = 0;
        for (sql, age) in statements {
            match sqlx::query(sql)
                .bind(now)
                .bind(age)
                .execute(self.pool())
                .await
            {
                Ok(done) => deleted += done.rows_affected(),
                Err(e) => tracing::warn!(error = %e, statement = sql, "a purge failed"),
            }
        }
        Ok(deleted)
    }
}
