//! Identities at other providers linked to users, and sign-in flows in progress.

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
