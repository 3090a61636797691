//! Roles and the one permission table every handler consults.

use serde::{Deserialize, Serialize};

/// A member's or an API key's role. Ordered: Viewer < Editor < Admin.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// A role name the store does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(String);

/// How the store's text becomes a role: the one place role names are read.
impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(text: String) -> Result<Role, UnknownRole> {
        match text.as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(text)),
        }
    }
}

/// What a caller may do. Each endpoint requires exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read agents.
    AgentsRead,
    /// Create, change and delete agents and what hangs off them.
    AgentsWrite,
    /// Create, list, revoke and rotate the API keys one created, up to one's own role.
    ApiKeysOwn,
    /// See and revoke every API key of the account.
    ApiKeysAll,
    /// Read the account's usage.
    UsageRead,
    /// Read the account's audit log.
    AuditLogRead,
    /// Invite members, change their roles, remove them.
    TeamManage,
    /// See the plan and the period's usage, set the billing contact.
    BillingManage,
    /// See the webhook signing secret, manage webhook endpoints.
    WebhooksManage,
}

impl Permission {
    /// The least role that holds this permission.
    const fn least_role(self) -> Role {
        match self {
            Permission::AgentsRead => Role::Viewer,
            Permission::AgentsWrite | Permission::ApiKeysOwn => Role::Editor,
            Permission::ApiKeysAll
            | Permission::UsageRead
            | Permission::AuditLogRead
            | Permission::TeamManage
            | Permission::BillingManage
            | Permission::WebhooksManage => Role::Admin,
        }
    }

    /// Permissions over the account's credentials and who holds them: a key whose
    /// rotation has begun keeps the rest, and loses these at once.
    pub const fn governs_the_account(self) -> bool {
        match self {
            Permission::AgentsRead
            | Permission::AgentsWrite
            | Permission::UsageRead
            | Permission::AuditLogRead => false,
            Permission::ApiKeysOwn
            | Permission::ApiKeysAll
            | Permission::TeamManage
            | Permission::BillingManage
            | Permission::WebhooksManage => true,
        }
    }

    pub fn allowed_for(self, role: Role) -> bool {
        role >= self.least_role()
    }

    pub fn describe(self) -> &'static str {
        match self {
            Permission::AgentsRead => "read agents",
            Permission::AgentsWrite => "create or change agents",
            Permission::ApiKeysOwn => "manage API keys",
            Permission::ApiKeysAll => "manage every API key of the account",
            Permission::UsageRead => "read the account's usage",
            Permission::AuditLogRead => "read the account's audit log",
            Permission::TeamManage => "manage the team",
            Permission::BillingManage => "see or change billing",
            Permission::WebhooksManage => "manage webhooks",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_table_matches_the_roles_as_documented() {
        use Permission::*;
        let table = [
            (AgentsRead, [true, true, true]),
            (AgentsWrite, [false, true, true]),
            (ApiKeysOwn, [false, true, true]),
            (ApiKeysAll, [false, false, true]),
            (UsageRead, [false, false, true]),
            (AuditLogRead, [false, false, true]),
            (TeamManage, [false, false, true]),
            (BillingManage, [false, false, true]),
            (WebhooksManage, [false, false, true]),
        ];
        for (permission, expected) in table {
            let got = [Role::Viewer, Role::Editor, Role::Admin].map(|r| permission.allowed_for(r));
            assert_eq!(got, expected, "{permission:?}");
        }
    }
}
