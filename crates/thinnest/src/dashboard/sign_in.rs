//! Sign-up, email verification, sign-in and sign-out.
//!
//! Sign-up and sign-in answer the same whether or not an account exists, and do the
//! same password work either way, so that nobody learns who has one; what differs
//! (creating the person, which message goes out) happens after the response.

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::form::{FormPage, page};
use super::recovery::{NewPassword, after_response, inbox, link_expired, send_link};
use super::session::{self, SignedIn};
use super::throttle::{Attempt, Device, attempt_password};
use super::{CsrfForm, PageError, PageForm};
use crate::auth::password::Password;
use crate::domain::actors::Actor;
use crate::domain::people::{MAX_EMAIL_LEN, normalise_email};
use crate::net::Client;
use crate::ratelimit::seconds_until;
use crate::secrets::token::Token;
use crate::services::mail::{MailCause, may_mail};
use crate::state::AppState;
use crate::store::users::{RESET_PASSWORD, VERIFY_EMAIL};

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

pub async fn signup_page(State(state): State<AppState>) -> Response {
    page(StatusCode::OK, FormPage::signup(&state))
}

pub async fn signup(
    State(state): State<AppState>,
    PageForm(form): PageForm<Credentials>,
) -> Result<Response, PageError> {
    let password = Password::new(form.password);
    let Ok(email) = normalise_email(&form.email) else {
        let error = Some("Enter a valid email address.".to_owned());
        let form = FormPage {
            error,
            email: form.email,
            ..FormPage::signup(&state)
        };
        return Ok(page(StatusCode::UNPROCESSABLE_ENTITY, form));
    };
    if let Some(problem) = password.problem() {
        let form = FormPage {
            password_error: Some(problem),
            email,
            ..FormPage::signup(&state)
        };
        return Ok(page(StatusCode::UNPROCESSABLE_ENTITY, form));
    }
    // The hash is computed whether or not the account exists, so both take as long.
    let phc = state.passwords.hash(password).await?;
    let state = state.clone();
    after_response("a sign-up's message", async move {
        deliver_sign_up(&state, &email, &phc).await
    });
    Ok(inbox(
        "We sent a message to that address. Follow its link to continue.",
    ))
}

/// What a sign-up sends: a confirmation link holding the password chosen, or, for an
/// address that has an account, a link to reset its password. A new person is stored
/// only when a message may go to the address.
async fn deliver_sign_up(state: &AppState, email: &str, phc: &str) -> Result<(), PageError> {
    if !may_mail(state, MailCause::Stranger, email).await {
        return Ok(());
    }
    match state.store.user_by_email(email).await? {
        None => {
            if let Some(user_id) = state.store.create_user(email).await? {
                send_link(state, email, &user_id, VERIFY_EMAIL, Some(phc)).await?;
            }
        }
        // A sign-up never confirmed: another link, holding this password. Each link
        // needs the password chosen with it, so nobody can confirm with theirs.
        Some(user) if user.email_verified_at.is_none() && user.password_hash.is_none() => {
            send_link(state, email, &user.id, VERIFY_EMAIL, Some(phc)).await?;
        }
        // An existing account: its owner can reset the password from the message.
        Some(user) => {
            send_link(state, email, &user.id, RESET_PASSWORD, None).await?;
        }
    }
    Ok(())
}

pub async fn verify_page() -> Response {
    page(StatusCode::OK, FormPage::verify())
}

/// The name of a person's own first workspace.
pub fn workspace_name(email: &str) -> String {
    format!("{}'s workspace", email.split('@').next().unwrap_or(email))
}

/// The workspace to sign in to: the user's first, or a new one of their own.
async fn workspace_of(state: &AppState, user_id: &str, email: &str) -> Result<String, PageError> {
    if let Some((id, _, _)) = state.store.workspaces(user_id).await?.into_iter().next() {
        return Ok(id);
    }
    Ok(state
        .store
        .create_account(&workspace_name(email), user_id)
        .await?)
}

/// Starts a session, marks the browser as known for the person, and goes home.
pub async fn signed_in_redirect(
    state: &AppState,
    user_id: &str,
    email: &str,
    client: &Client,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let account = workspace_of(state, user_id, email).await?;
    let actor = Actor::user(user_id, client.ip);
    state
        .store
        .record_user_event(user_id, &actor, "user.signed_in")
        .await?;
    let cookie = session::start(
        state,
        user_id,
        &account,
        client.ip,
        session::user_agent(headers),
    )
    .await?;
    let device = Device::issue(state, user_id)?;
    let cookies = AppendHeaders([(header::SET_COOKIE, cookie), (header::SET_COOKIE, device)]);
    Ok((cookies, Redirect::to("/app")).into_response())
}

pub async fn verify(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    PageForm(form): PageForm<NewPassword>,
) -> Result<Response, PageError> {
    let Some(token) = Token::parse(&form.token) else {
        return Ok(link_expired());
    };
    let Some((user_id, phc)) = state.store.pending_sign_up(&token.hash()).await? else {
        return Ok(link_expired());
    };
    let chosen = Password::new(form.password);
    if !state.passwords.verify(chosen, Some(phc.clone())).await? {
        let error = Some("That is not the password chosen with this sign-up.".to_owned());
        let form = FormPage {
            error,
            token: Some(form.token),
            ..FormPage::verify()
        };
        return Ok(page(StatusCode::UNAUTHORIZED, form));
    }
    if state
        .store
        .use_email_token(VERIFY_EMAIL, &token.hash())
        .await?
        .is_none()
    {
        return Ok(link_expired());
    }
    state.store.set_password(&user_id, &phc).await?;
    state.store.mark_email_verified(&user_id).await?;
    let email = state.store.user_email(&user_id).await?;
    signed_in_redirect(&state, &user_id, &email, &client, &headers).await
}

pub async fn login_page(
    State(state): State<AppState>,
    signed_in: Result<SignedIn, PageError>,
) -> Response {
    if signed_in.is_ok() {
        return Redirect::to("/app").into_response();
    }
    page(StatusCode::OK, FormPage::login(&state))
}

fn too_many(state: &AppState, email: String, wait_ms: i64) -> Response {
    let error = format!(
        "Too many sign-in attempts. Try again in {} seconds.",
        seconds_until(wait_ms)
    );
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        FormPage {
            error: Some(error),
            email,
            ..FormPage::login(state)
        },
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(seconds_until(wait_ms)),
    );
    response
}

pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    PageForm(form): PageForm<Credentials>,
) -> Result<Response, PageError> {
    // Not an address: it is looked up as typed (and found nowhere), cut to an address's
    // longest, so that it cannot make an oversized budget or database key.
    let email = normalise_email(&form.email).unwrap_or_else(|_| {
        let typed = form.email.trim().to_lowercase();
        typed.chars().take(MAX_EMAIL_LEN).collect()
    });
    let password = Password::new(form.password);
    match attempt_password(&state, &client, &headers, &email, password).await? {
        Attempt::Matched(user) => {
            signed_in_redirect(&state, &user.id, &email, &client, &headers).await
        }
        Attempt::TooMany(wait_ms) => Ok(too_many(&state, email, wait_ms)),
        Attempt::Wrong => {
            let error = Some("That email and password do not match an account.".to_owned());
            let form = FormPage {
                error,
                email,
                ..FormPage::login(&state)
            };
            Ok(page(StatusCode::UNAUTHORIZED, form))
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    state.store.delete_session(&signed_in.session.id).await?;
    Ok((
        [(header::SET_COOKIE, session::cleared())],
        Redirect::to("/app/login"),
    )
        .into_response())
}
