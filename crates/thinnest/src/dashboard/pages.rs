//! Signed-in pages: the workspace's agents, the person's security, the audit log and billing.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::throttle::{Attempt, attempt_password};
use super::{CsrfForm, PageError, PageForm, render, status_with};
use crate::auth::password::Password;
use crate::domain::ids::{AuditEntryId, Id, IdentityId};
use crate::domain::roles::Permission;
use crate::domain::time::{now_ms, rfc3339};
use crate::error::Error;
use crate::net::Client;
use crate::ratelimit::seconds_until;
use crate::services;
use crate::services::mail::notify;
use crate::state::AppState;
use crate::store::identities::Unlinked;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    /// Name, model, last change.
    /// Id, name, model, last update.
    agents: Vec<(String, String, String, String)>,
}

pub async fn home(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let rows = state
        .store
        .list_agents(&signed_in.session.account_id, None, 100)
        .await?;
    let agents = rows
        .into_iter()
        .map(|a| (a.id, a.name, a.model, rfc3339(a.updated_at)))
        .collect();
    let page = HomePage {
        nav: signed_in.nav(),
        agents,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    nav: Nav,
    /// Signed in, last active, address, browser, whether it is this session.
    sessions: Vec<(String, String, String, String, bool)>,
    /// Connected providers: id, provider name, email, connected at, last used.
    identities: Vec<(String, String, String, String, String)>,
    /// Every configured provider: slug and name.
    providers: Vec<(&'static str, String)>,
    has_password: bool,
    notice: Option<String>,
    error: Option<String>,
}

pub async fn security_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let providers = &state.identity.providers;
    let label = |slug: &str| {
        providers
            .get(slug)
            .map_or(slug.to_owned(), |p| p.label.clone())
    };
    let identities = state
        .store
        .user_identities(&signed_in.session.user_id)
        .await?
        .into_iter()
        .map(|i| {
            (
                i.id,
                label(&i.provider),
                i.email.unwrap_or_default(),
                rfc3339(i.created_at),
                i.last_used_at.map(rfc3339).unwrap_or_default(),
            )
        })
        .collect();
    let has_password = state
        .store
        .user_by_email(&signed_in.session.email)
        .await?
        .is_some_and(|u| u.password_hash.is_some());
    let sessions = state
        .store
        .user_sessions(&signed_in.session.user_id, now_ms())
        .await?
        .into_iter()
        .map(|s| {
            let this = s.id == signed_in.session.id;
            (
                rfc3339(s.created_at),
                rfc3339(s.last_seen_at),
                s.client_ip,
                s.user_agent,
                this,
            )
        })
        .collect();
    let status = status_with(&error);
    let page = SecurityPage {
        nav: signed_in.nav(),
        sessions,
        identities,
        providers: providers.buttons(),
        has_password,
        notice,
        error,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub struct SecurityQuery {
    /// Set after a provider was connected.
    connected: Option<String>,
}

pub async fn security(
    State(state): State<AppState>,
    signed_in: SignedIn,
    query: Result<Query<SecurityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    let connected = query
        .ok()
        .and_then(|Query(q)| q.connected)
        .and_then(|slug| state.identity.providers.get(&slug))
        .map(|p| format!("{} is connected: you can sign in with it.", p.label));
    security_page(&state, &signed_in, connected, None).await
}

pub async fn disconnect_identity(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    if IdentityId::parse(&id).is_none() {
        return Err(PageError::NotFound);
    }
    let done = state
        .store
        .unlink_identity(&signed_in.session.user_id, &id, &signed_in.actor())
        .await?;
    match done {
        Unlinked::Done => {
            let text = "A sign-in provider was disconnected from your thinnest account: it no longer signs you in.";
            notify(
                &state,
                &signed_in.session.email,
                "A sign-in method was disconnected",
                text,
            )
            .await;
            let notice = Some("Disconnected. It no longer signs you in.".to_owned());
            security_page(&state, &signed_in, notice, None).await
        }
        Unlinked::NotFound => Err(PageError::NotFound),
        Unlinked::LastMethod => {
            let error = Some(
                "This is your only way to sign in. Set a password first (the sign-in page's \"Forgot your password?\" sends a link), then disconnect it.".to_owned(),
            );
            security_page(&state, &signed_in, None, error).await
        }
    }
}

pub async fn sign_out_others(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    state
        .store
        .delete_user_sessions(&signed_in.session.user_id, Some(&signed_in.session.id))
        .await?;
    security_page(
        &state,
        &signed_in,
        Some("Every other session is signed out.".to_owned()),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf_token: String,
    current_password: String,
    password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    signed_in: SignedIn,
    PageForm(form): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    let new = Password::new(form.password);
    if let Some(problem) = new.problem() {
        let error = match problem {
            p if p.starts_with("must be at least") => {
                "The new password must be at least 8 characters."
            }
            p if p.starts_with("must be at most") => {
                "The new password must be at most 1024 characters."
            }
            _ => "The new password is one of the most common; choose another.",
        };
        return security_page(&state, &signed_in, None, Some(error.to_owned())).await;
    }
    // The current password is checked as sign-in checks it, throttle included, so a
    // stolen session cannot guess it faster than a sign-in page could.
    let current = Password::new(form.current_password);
    let email = &signed_in.session.email;
    let user = match attempt_password(&state, &client, &headers, email, current).await? {
        Attempt::Matched(user) => user,
        Attempt::Wrong => {
            let error = Some("The current password is wrong.".to_owned());
            return security_page(&state, &signed_in, None, error).await;
        }
        Attempt::TooMany(wait_ms) => {
            let error = Some(format!(
                "Too many attempts. Try again in {} seconds.",
                seconds_until(wait_ms)
            ));
            return security_page(&state, &signed_in, None, error).await;
        }
    };
    state
        .store
        .set_password(&user.id, &state.passwords.hash(new).await?)
        .await?;
    state
        .store
        .delete_user_sessions(&user.id, Some(&signed_in.session.id))
        .await?;
    state
        .store
        .record_user_event(&user.id, &signed_in.actor(), "user.password_changed")
        .await?;
    security_page(
        &state,
        &signed_in,
        Some("Password changed. Every other session is signed out.".to_owned()),
        None,
    )
    .await
}

#[derive(Template)]
#[template(path = "audit_log.html")]
struct AuditPage {
    nav: Nav,
    /// When, action, actor, target, address, details.
    entries: Vec<(String, String, String, String, String, String)>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    cursor: Option<String>,
}

/// The workspace's audit log, newest first, 50 a page (Admins only).
pub async fn audit_log(
    State(state): State<AppState>,
    signed_in: SignedIn,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AuditLogRead)?;
    // A cursor that is not one of ours starts from the newest entry.
    let cursor = query.ok().and_then(|Query(q)| q.cursor);
    let before = cursor
        .as_deref()
        .filter(|c| AuditEntryId::parse(c).is_some());
    let mut rows = state
        .store
        .audit_entries(&signed_in.session.account_id, before, 51)
        .await?;
    let next_cursor = (rows.len() > 50).then(|| rows[49].id.clone());
    rows.truncate(50);
    let entries = rows
        .into_iter()
        .map(|r| {
            let actor = match r.actor_id.as_str() {
                "" => r.actor_type,
                id => format!("{} {id}", r.actor_type),
            };
            let target = format!("{} {}", r.target_type, r.target_id);
            let action = match r.repeats {
                1 => r.action,
                n => format!("{} ×{n}", r.action),
            };
            let from = r.client_ip.unwrap_or_default();
            (rfc3339(r.created_at), action, actor, target, from, r.detail)
        })
        .collect();
    let page = AuditPage {
        nav: signed_in.nav(),
        entries,
        next_cursor,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    nav: Nav,
    period: String,
    usage: Vec<(String, i64)>,
    total: i64,
    email: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

async fn billing_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::BillingManage)?;
    let billing = services::billing::billing(&state.store, &signed_in.session.account_id).await?;
    let page = BillingPage {
        nav: signed_in.nav(),
        period: format!("{} to {}", billing.period.start, billing.period.end),
        usage: billing.usage.by_class.into_iter().collect(),
        total: billing.usage.requests,
        email: billing.billing_email.unwrap_or_default(),
        notice,
        error,
    };
    Ok(render(status_with(&error), &page))
}

pub async fn billing(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    billing_page(&state, &signed_in, None, None).await
}

#[derive(Deserialize)]
pub struct BillingForm {
    csrf_token: String,
    email: String,
}

pub async fn update_billing(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<BillingForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::BillingManage)?;
    let sent = Some(form.email.trim()).filter(|e| !e.is_empty());
    let account_id = &signed_in.session.account_id;
    match services::billing::set_contact(&state.store, account_id, sent, &signed_in.actor()).await {
        Err(Error::Invalid { .. }) => {
            let error =
                Some("Enter an email address such as billing@example.com, or leave it empty.");
            return billing_page(&state, &signed_in, None, error).await;
        }
        done => done?,
    }
    billing_page(&state, &signed_in, Some("Billing contact saved."), None).await
}
