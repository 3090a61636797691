//! Identities at other providers linked to users, sign-in flows in progress, and links
//! waiting for a password.

/// A linked identity as the security page lists it.
#[derive(Debug)]
pub struct Identity {
    pub id: String,
    pub provider: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A flow in progress, as its callback finds it.
#[derive(Debug)]
pub struct Flow {
    pub provider: String,
    /// The signed-in user linking an identity; None for a sign-in.
    pub link_user_id: Option<String>,
}

/// A provider identity and what the provider said about it.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
}

/// A link waiting for the password of the account it would join.
#[derive(Debug)]
pub struct PendingLink {
    pub user_id: String,
    pub identity: NewIdentity,
}
