//! Emailed single-use links (confirming a sign-up, resetting a password), the
//! forgot-password form and the reset.
//!
//! The forgot-password form answers the same, at once, whether or not the address has
//! an account: looking it up and mailing happen off the response path.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::form::{FormPage, page};
use super::{MessagePage, PageError, PageForm, render};
use crate::auth::password::Password;
use crate::domain::actors::Actor;
use crate::domain::people::normalise_email;
use crate::domain::time::now_ms;
use crate::net::Client;
use crate::secrets::token::Token;
use crate::services::mail::{MailCause, mail_link, may_mail};
use crate::state::AppState;
use crate::store::users::{RESET_PASSWORD, VERIFY_EMAIL};

const HOUR_MS: i64 = 3_600_000;

#[derive(Deserialize)]
pub struct EmailOnly {
    email: String,
}

#[derive(Deserialize)]
pub struct NewPassword {
    pub token: String,
    pub password: String,
}

/// The page after a form that may have sent a message.
pub fn inbox(text: &str) -> Response {
    render(StatusCode::OK, &MessagePage::new("Check your inbox", text))
}

/// Stores a single-use link for the user and emails it; a sign-up link carries the
/// pending password's hash. The caller has spent the address's budget for strangers'
/// messages ([`may_mail`]), so that nothing is stored for a message that cannot go.
pub async fn send_link(
    state: &AppState,
    to: &str,
    user_id: &str,
    kind: &'static str,
    pending_password: Option<&str>,
) -> Result<(), PageError> {
    let token = Token::generate();
    let (path, subject, ttl, text) = match kind {
        VERIFY_EMAIL => (
            "/app/verify-email",
            "Confirm your email address",
            24 * HOUR_MS,
            "Confirm your email address to finish creating your thinnest account \
             (you will be asked for the password you chose):",
        ),
        _ => (
            "/app/reset-password",
            "Reset your thinnest password",
            HOUR_MS,
            "Someone (hopefully you) asked to set a new password for your thinnest account, \
             or tried to sign up with this address. This link works once, for an hour:",
        ),
    };
    state
        .store
        .insert_email_token(
            user_id,
            kind,
            &token.hash(),
            now_ms() + ttl,
            pending_password,
        )
        .await?;
    mail_link(state, to, subject, text, path, &token);
    Ok(())
}

/// Runs `work` after the response, logging its failure: for what must not make a
/// known address answer differently from an unknown one.
pub fn after_response(
    what: &'static str,
    work: impl Future<Output = Result<(), PageError>> + Send + 'static,
) {
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::error!(error = ?e, "{what} failed");
        }
    });
}

pub fn link_expired() -> Response {
    render(
        StatusCode::BAD_REQUEST,
        &MessagePage::new(
            "This link no longer works",
            "Links work once and expire. Ask for a new one from the sign-in page.",
        ),
    )
}

pub async fn forgot_page() -> Response {
    page(StatusCode::OK, FormPage::forgot())
}

pub async fn forgot(
    State(state): State<AppState>,
    PageForm(form): PageForm<EmailOnly>,
) -> Result<Response, PageError> {
    if let Ok(email) = normalise_email(&form.email) {
        let state = state.clone();
        after_response("a password reset link", async move {
            if let Some(user) = state.store.user_by_email(&email).await?
                && may_mail(&state, MailCause::Stranger, &email).await
            {
                send_link(&state, &email, &user.id, RESET_PASSWORD, None).await?;
            }
            Ok(())
        });
    }
    Ok(inbox(
        "If an account uses that address, we sent it a link to set a new password.",
    ))
}

pub async fn reset_page() -> Response {
    page(StatusCode::OK, FormPage::reset())
}

/// Sets a new password with a reset link. The link is checked before the password is
/// hashed, so a flood of made-up links costs no hashing.
pub async fn reset(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    PageForm(form): PageForm<NewPassword>,
) -> Result<Response, PageError> {
    let password = Password::new(form.password);
    if let Some(problem) = password.problem() {
        return Ok(page(
            StatusCode::UNPROCESSABLE_ENTITY,
            FormPage {
                password_error: Some(problem),
                token: Some(form.token),
                ..FormPage::reset()
            },
        ));
    }
    let Some(token) = Token::parse(&form.token) else {
        return Ok(link_expired());
    };
    let open = state
        .store
        .email_token_user(RESET_PASSWORD, &token.hash())
        .await?;
    if open.is_none() {
        return Ok(link_expired());
    }
    let phc = state.passwords.hash(password).await?;
    let Some(user_id) = state
        .store
        .use_email_token(RESET_PASSWORD, &token.hash())
        .await?
    else {
        return Ok(link_expired());
    };
    state.store.set_password(&user_id, &phc).await?;
    let actor = Actor::user(&user_id, client.ip);
    state
        .store
        .record_user_event(&user_id, &actor, "user.password_reset")
        .await?;
    // The link proved the address; every old session ends.
    state.store.mark_email_verified(&user_id).await?;
    state.store.delete_user_sessions(&user_id, None).await?;
    Ok(render(
        StatusCode::OK,
        &MessagePage {
            title: "Password changed".to_owned(),
            text: "Your new password is set, and every session was signed out.".to_owned(),
            links: vec![("/app/login", "Sign in")],
        },
    ))
}
