//! People as the product knows them: their email addresses, users and their dashboard
//! sessions.

use super::roles::Role;

/// Text that cannot be an email address.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an email address")]
pub struct NotAnEmail(String);

/// The longest address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Lower-cased and trimmed; rejects text that cannot be an address.
pub fn normalise_email(email: &str) -> Result<String, NotAnEmail> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !email.contains(|c: char| c.is_whitespace() || c.is_control()) =>
        {
            Ok(email)
        }
        _ => Err(NotAnEmail(email)),
    }
}

/// A person who can sign in to the dashboard.
pub struct User {
    pub id: String,
    pub email: String,
    /// None until a password is set (a pending sign-up, a provider-only user).
    pub password_hash: Option<String>,
    pub email_verified_at: Option<i64>,
}

/// Never prints the password hash.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("has_password", &self.password_hash.is_some())
            .finish()
    }
}

/// A signed-in session with the user's role in the session's workspace.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub email: String,
    pub account_id: String,
    pub account_name: String,
    pub role: Role,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A session as the security page lists it.
#[derive(Debug)]
pub struct SessionInfo {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub client_ip: String,
    pub user_agent: String,
}
