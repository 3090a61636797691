//! Joining a provider's identity to an existing password account: the provider
//! vouched for an address that a password account uses, so that account's password
//! must be given (under the sign-in throttle) before the identity joins it.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::form::{FormPage, page};
use super::session::cookie_token;
use super::social::{FLOW_COOKIE, notify_connected, signed_in_as, stopped};
use super::throttle::{Attempt, attempt_password};
use super::{PageError, PageForm};
use crate::auth::password::Password;
use crate::domain::actors::Actor;
use crate::domain::identities::PendingLink;
use crate::net::Client;
use crate::ratelimit::seconds_until;
use crate::secrets::token::Token;
use crate::state::AppState;

/// The link waiting in this browser, if any.
async fn pending(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Token, PendingLink)>, PageError> {
    let Some(token) = cookie_token(headers, FLOW_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .store
        .pending_link(&token.hash())
        .await?
        .map(|link| (token, link)))
}

fn no_pending_link() -> Response {
    stopped(
        StatusCode::BAD_REQUEST,
        "This page expired",
        "Connecting accounts must finish within ten minutes. Start again from the sign-in page."
            .to_owned(),
    )
}

async fn link_form(state: &AppState, link: &PendingLink) -> Result<FormPage, PageError> {
    let email = state.store.user_email(&link.user_id).await?;
    let label = state
        .identity
        .providers
        .get(&link.identity.provider)
        .map_or(link.identity.provider.as_str(), |p| p.label.as_str());
    Ok(FormPage::link_with_password(format!(
        "A thinnest account already uses {email}. Enter its password to connect your {label} sign-in to it; after that, either way signs you in."
    )))
}

pub async fn link_page(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some((_, link)) = pending(&state, &headers).await? else {
        return Ok(no_pending_link());
    };
    Ok(page(StatusCode::OK, link_form(&state, &link).await?))
}

#[derive(Deserialize)]
pub struct PasswordOnly {
    password: String,
}

pub async fn link(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    PageForm(form): PageForm<PasswordOnly>,
) -> Result<Response, PageError> {
    let Some((token, link)) = pending(&state, &headers).await? else {
        return Ok(no_pending_link());
    };
    let email = state.store.user_email(&link.user_id).await?;
    let (status, error) = match attempt_password(
        &state,
        &client,
        &headers,
        &email,
        Password::new(form.password),
    )
    .await?
    {
        Attempt::Matched(user) => {
            state.store.delete_pending_link(&token.hash()).await?;
            let actor = Actor::user(&user.id, client.ip);
            if !state
                .store
                .link_identity(&user.id, &link.identity, &actor)
                .await?
            {
                let text = "That sign-in is already connected to an account.".to_owned();
                return Ok(stopped(StatusCode::CONFLICT, "Already connected", text));
            }
            if let Some(provider) = state.identity.providers.get(&link.identity.provider) {
                notify_connected(&state, &email, provider).await;
            }
            return signed_in_as(&state, &user.id, &client, &headers).await;
        }
        Attempt::Wrong => (
            StatusCode::UNAUTHORIZED,
            "That password is not right.".to_owned(),
        ),
        Attempt::TooMany(wait_ms) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many attempts. Try again in {} seconds.",
                seconds_until(wait_ms)
            ),
        ),
    };
    let mut form = link_form(&state, &link).await?;
    form.error = Some(error);
    Ok(page(status, form))
}
