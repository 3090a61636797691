//! The person's security settings: sessions, password and connected sign-in providers.

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::throttle::{Attempt, attempt_password};
use super::view::{When, browser_name};
use super::{CsrfForm, PageError, PageForm, render, status_with};
use crate::auth::password::Password;
use crate::domain::ids::{Id, IdentityId};
use crate::domain::time::now_ms;
use crate::net::Client;
use crate::ratelimit::seconds_until;
use crate::services::mail::notify;
use crate::state::AppState;
use crate::store::identities::Unlinked;

#[derive(Template)]
#[template(path = "security.html")]
struct SecurityPage {
    nav: Nav,
    /// Signed in, last active, address, browser in words and in full, whether it is
    /// this session.
    sessions: Vec<(When, When, String, String, String, bool)>,
    /// Connected providers: id, provider name, email, connected at, last used.
    identities: Vec<(String, String, String, When, Option<When>)>,
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
                When::at_ms(i.created_at),
                i.last_used_at.map(When::at_ms),
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
                When::at_ms(s.created_at),
                When::at_ms(s.last_seen_at),
                s.client_ip,
                browser_name(&s.user_agent),
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
