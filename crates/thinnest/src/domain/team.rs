//! A workspace's team: its members and the invitations still open.

use super::roles::Role;

/// A member of a workspace.
#[derive(Debug)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

/// An invitation to a workspace.
#[derive(Debug)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub expires_at: i64,
}
