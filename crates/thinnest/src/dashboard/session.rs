//! Dashboard sessions: a `__Host-` cookie holding a random token, of which only the
//! SHA-256 is stored; an idle timeout and an absolute lifetime; a CSRF token
//! derived from the session token, so nothing more is stored.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::{COOKIE, USER_AGENT};
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::PageError;
use crate::domain::actors::Actor;
use crate::domain::people::Session;
use crate::domain::roles::{Permission, Role};
use crate::domain::time::now_ms;
use crate::net::Client;
use crate::secrets::token::Token;
use crate::state::AppState;
use crate::store::users::NewSession;

pub const COOKIE_NAME: &str = "__Host-thinnest_session";

/// A signed-in dashboard request.
pub struct SignedIn {
    pub session: Session,
    token: Token,
    pub client_ip: IpAddr,
    /// Every workspace of the person: id and name.
    workspaces: Vec<(String, String)>,
    /// The page's path, which the navigation marks as current.
    path: String,
}

/// A link of the navigation.
pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    /// The page shown is this link's, or one under it (`aria-current`).
    pub current: bool,
}

/// What every signed-in page shows in its header.
pub struct Nav {
    pub email: String,
    pub workspace: String,
    pub role: &'static str,
    pub csrf_token: String,
    /// The workspaces to switch to, when there is more than one: id, name, current.
    pub workspaces: Vec<(String, String, bool)>,
    /// The sections: Agents, Usage, Settings.
    pub main: Vec<NavLink>,
    /// Settings' pages this role may open, when a settings page is shown; else empty.
    pub settings: Vec<NavLink>,
}

/// Settings' pages, in their order, and who may open each.
const SETTINGS: &[(&str, &str, Option<Permission>)] = &[
    (
        "/app/settings/api-keys",
        "API Keys",
        Some(Permission::ApiKeysOwn),
    ),
    ("/app/settings/team", "Team", Some(Permission::TeamManage)),
    ("/app/settings/integrations", "Integrations", None),
    (
        "/app/settings/webhooks",
        "Webhooks",
        Some(Permission::WebhooksManage),
    ),
    (
        "/app/settings/billing",
        "Billing",
        Some(Permission::BillingManage),
    ),
    ("/app/settings/security", "Security", None),
    (
        "/app/settings/audit-log",
        "Audit log",
        Some(Permission::AuditLogRead),
    ),
];

/// Whether `path` is the page at `href` or one under it.
fn under(path: &str, href: &str) -> bool {
    path.strip_prefix(href)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl SignedIn {
    pub fn nav(&self) -> Nav {
        Nav {
            email: self.session.email.clone(),
            workspace: self.session.account_name.clone(),
            role: self.session.role.as_str(),
            csrf_token: self.token.derive("csrf"),
            main: self.main_links(),
            settings: if under(&self.path, "/app/settings") {
                self.settings_links()
            } else {
                Vec::new()
            },
            workspaces: if self.workspaces.len() > 1 {
                self.workspaces
                    .iter()
                    .map(|(id, name)| (id.clone(), name.clone(), *id == self.session.account_id))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn settings_links(&self) -> Vec<NavLink> {
        SETTINGS
            .iter()
            .filter(|(_, _, needs)| needs.is_none_or(|p| p.allowed_for(self.session.role)))
            .map(|&(href, label, _)| NavLink {
                href,
                label,
                current: under(&self.path, href),
            })
            .collect()
    }

    fn main_links(&self) -> Vec<NavLink> {
        let path = self.path.as_str();
        let mut links = vec![NavLink {
            href: "/app",
            label: "Agents",
            current: path == "/app" || under(path, "/app/agents"),
        }];
        if Permission::UsageRead.allowed_for(self.session.role) {
            links.push(NavLink {
                href: "/app/usage",
                label: "Usage",
                current: under(path, "/app/usage"),
            });
        }
        // Settings opens on its first page this role may see (Security is everyone's).
        let first = self
            .settings_links()
            .first()
            .map_or("/app/settings/security", |l| l.href);
        links.push(NavLink {
            href: first,
            label: "Settings",
            current: under(path, "/app/settings"),
        });
        links
    }

    /// Accepts a form only with this session's CSRF token (compared in constant time).
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        let expected = self.token.derive("csrf");
        if bool::from(expected.as_bytes().ct_eq(sent.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::BadForm)
        }
    }

    pub fn require(&self, permission: Permission) -> Result<(), PageError> {
        if permission.allowed_for(self.session.role) {
            Ok(())
        } else {
            Err(PageError::Forbidden)
        }
    }

    pub fn role(&self) -> Role {
        self.session.role
    }

    /// This person as the audit log names them.
    pub fn actor(&self) -> Actor {
        Actor::user(&self.session.user_id, self.client_ip)
    }
}

/// The value of the cookie `name`, if the request has it.
pub fn cookie_value<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value)
}

/// The token in the cookie `name`, if it has a token's shape.
pub fn cookie_token(headers: &axum::http::HeaderMap, name: &str) -> Option<Token> {
    cookie_value(headers, name).and_then(Token::parse)
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let token = cookie_token(&parts.headers, COOKIE_NAME).ok_or(PageError::SignIn)?;
        let session = state
            .store
            .session_by_hash(&token.hash())
            .await?
            .ok_or(PageError::SignIn)?;
        let now = now_ms();
        let idle_ms = i64::from(state.config.dashboard.session_idle_minutes) * 60_000;
        if session.expires_at <= now || session.last_seen_at + idle_ms <= now {
            state.store.delete_session(&session.id).await?;
            return Err(PageError::SignIn);
        }
        state.store.touch_session(&session.id, now).await?;
        let client_ip = parts
            .extensions
            .get::<Client>()
            .map_or(std::net::Ipv6Addr::UNSPECIFIED.into(), |c| c.ip);
        let workspaces = state
            .store
            .workspaces(&session.user_id)
            .await?
            .into_iter()
            .map(|(id, name, _)| (id, name))
            .collect();
        Ok(SignedIn {
            session,
            token,
            client_ip,
            workspaces,
            path: parts.uri.path().to_owned(),
        })
    }
}

/// Starts a session (always with a new token) and returns its `Set-Cookie` value.
pub async fn start(
    state: &AppState,
    user_id: &str,
    account_id: &str,
    client_ip: IpAddr,
    user_agent: Option<&HeaderValue>,
) -> Result<HeaderValue, PageError> {
    let token = Token::generate();
    let max_age_s = i64::from(state.config.dashboard.session_max_hours) * 3600;
    let user_agent = user_agent
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    state
        .store
        .insert_session(&NewSession {
            token_hash: &token.hash(),
            user_id,
            account_id,
            expires_at: now_ms() + max_age_s * 1000,
            client_ip: &client_ip.to_string(),
            user_agent: &user_agent,
        })
        .await?;
    let cookie = format!(
        "{COOKIE_NAME}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_s}",
        token.expose()
    );
    Ok(HeaderValue::from_str(&cookie)?)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-thinnest_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

/// The user agent header of a request, for the sessions list.
pub fn user_agent(parts: &axum::http::HeaderMap) -> Option<&HeaderValue> {
    parts.get(USER_AGENT)
}
