//! Sign-up, email verification, sign-in, sign-out and password reset.
//!
//! Sign-up, sign-in and reset answer the same whether or not an account exists,
//! and do the same password work either way, so that nobody learns who has one.

use askama::Template;
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{self, SignedIn};
use super::{CsrfForm, MessagePage, PageError, PageForm, mail_link, render};
use crate::AppState;
use crate::auth::password::{self, Password};
use crate::auth::token::Token;
use crate::bootstrap::normalise_email;
use crate::clock::now_ms;
use crate::net::{Client, client_bucket};
use crate::ratelimit::{Mode, seconds_until};
use crate::store::audit::Actor;
use crate::store::users::{RESET_PASSWORD, UserRow, VERIFY_EMAIL};

const HOUR_MS: i64 = 3_600_000;
/// Sign-in attempts per minute, per client and per email from one client.
const ATTEMPTS_PER_IP: u32 = 30;
const ATTEMPTS_PER_EMAIL: u32 = 10;
/// From every client together: bounds distributed guessing of one account.
const ATTEMPTS_PER_EMAIL_ANYWHERE: u32 = 100;
/// Consecutive failures before back-off starts, and its ceiling.
const FREE_FAILURES: i64 = 5;
const MAX_LOCK_MS: i64 = 15 * 60_000;

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    title: &'static str,
    action: &'static str,
    submit: &'static str,
    pub error: Option<String>,
    notice: Option<String>,
    email_field: bool,
    email: String,
    password_field: bool,
    password_autocomplete: &'static str,
    password_error: Option<&'static str>,
    token_field: bool,
    /// "Continue with …" buttons: provider slug and label.
    social: Vec<(&'static str, String)>,
    /// Set on forms posted while signed in.
    pub csrf_token: Option<String>,
    links: Vec<(&'static str, &'static str)>,
}

impl FormPage {
    fn new(title: &'static str, action: &'static str, submit: &'static str) -> FormPage {
        FormPage {
            title,
            action,
            submit,
            error: None,
            notice: None,
            email_field: true,
            email: String::new(),
            password_field: true,
            password_autocomplete: "current-password",
            password_error: None,
            token_field: false,
            social: Vec::new(),
            csrf_token: None,
            links: Vec::new(),
        }
    }

    fn login(state: &AppState) -> FormPage {
        FormPage {
            social: state.identity.providers.buttons(),
            links: vec![
                ("/app/forgot-password", "Forgot your password?"),
                ("/app/signup", "No account yet? Sign up"),
            ],
            ..FormPage::new("Sign in", "/app/login", "Sign in")
        }
    }

    fn signup(state: &AppState) -> FormPage {
        FormPage {
            social: state.identity.providers.buttons(),
            password_autocomplete: "new-password",
            links: vec![("/app/login", "Already have an account? Sign in")],
            ..FormPage::new("Create your account", "/app/signup", "Sign up")
        }
    }

    fn forgot() -> FormPage {
        FormPage {
            password_field: false,
            links: vec![("/app/login", "Back to sign in")],
            ..FormPage::new(
                "Reset your password",
                "/app/forgot-password",
                "Send me a link",
            )
        }
    }

    fn reset() -> FormPage {
        FormPage {
            email_field: false,
            token_field: true,
            password_autocomplete: "new-password",
            ..FormPage::new(
                "Choose a new password",
                "/app/reset-password",
                "Set password",
            )
        }
    }

    pub fn accept() -> FormPage {
        FormPage {
            email_field: false,
            password_field: false,
            token_field: true,
            ..FormPage::new(
                "Join the workspace",
                "/app/invitations/accept",
                "Accept the invitation",
            )
        }
    }

    /// Asks for the password of an existing account before a provider joins it.
    pub fn link_with_password(notice: String) -> FormPage {
        FormPage {
            email_field: false,
            notice: Some(notice),
            links: vec![("/app/forgot-password", "Forgot your password?")],
            ..FormPage::new(
                "Connect your accounts",
                "/app/oauth/link",
                "Connect and sign in",
            )
        }
    }

    fn verify() -> FormPage {
        FormPage {
            email_field: false,
            token_field: true,
            notice: Some("Enter the password you chose when you signed up.".to_owned()),
            ..FormPage::new("Confirm your email", "/app/verify-email", "Confirm")
        }
    }
}

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
pub struct EmailOnly {
    email: String,
}

#[derive(Deserialize)]
pub struct NewPassword {
    token: String,
    password: String,
}

pub fn page(status: StatusCode, form: FormPage) -> Response {
    render(status, &form)
}

fn inbox(title: &str, text: &str) -> Response {
    render(StatusCode::OK, &MessagePage::new(title, text))
}

/// Stores a single-use link for the user and emails it; a sign-up link carries the
/// pending password's hash.
async fn send_link(
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
    mail_link(state, to, subject, text, path, &token).await
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
    let phc = password::hash(password).await?;
    match state.store.user_by_email(&email).await? {
        None => {
            if let Some(user_id) = state.store.create_user(&email).await? {
                send_link(&state, &email, &user_id, VERIFY_EMAIL, Some(&phc)).await?;
            }
        }
        // A sign-up never confirmed: another link, holding this password. Each link
        // needs the password chosen with it, so nobody can confirm with theirs.
        Some(user) if user.email_verified_at.is_none() && user.password_hash.is_none() => {
            send_link(&state, &email, &user.id, VERIFY_EMAIL, Some(&phc)).await?;
        }
        // An existing account: its owner can reset the password from the message.
        Some(user) => {
            send_link(&state, &email, &user.id, RESET_PASSWORD, None).await?;
        }
    }
    Ok(inbox(
        "Check your inbox",
        "We sent a message to that address. Follow its link to continue.",
    ))
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
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/app")).into_response())
}

fn link_expired() -> Response {
    render(
        StatusCode::BAD_REQUEST,
        &MessagePage::new(
            "This link no longer works",
            "Links work once and expire. Ask for a new one from the sign-in page.",
        ),
    )
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
    if !password::verify(Password::new(form.password), Some(phc.clone())).await? {
        let error = Some("That is not the password chosen with this sign-up.".to_owned());
        let form = FormPage {
            error,
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

/// Milliseconds sign-ins for an email are blocked after this many consecutive failures.
fn back_off_ms(failures: i64) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let exponent = u32::try_from((failures - FREE_FAILURES).min(20)).unwrap_or(20);
    (1000_i64 << exponent).min(MAX_LOCK_MS)
}

fn too_many(state: &AppState, email: String, wait_ms: i64) -> Response {
    let error = format!(
        "Too many sign-in attempts. Try again in {} seconds.",
        seconds_until(wait_ms)
    );
    page(
        StatusCode::TOO_MANY_REQUESTS,
        FormPage {
            error: Some(error),
            email,
            ..FormPage::login(state)
        },
    )
}

/// How a password sign-in attempt went.
pub enum Attempt {
    Matched(UserRow),
    Wrong,
    /// Refused before the password was looked at; retry after this many ms.
    TooMany(i64),
}

/// Checks a password for an email, as sign-in does everywhere: every attempt first
/// spends from budgets, atomically, so parallel guesses count one by one (per client,
/// per email and client, per email from anywhere); then back-off applies per email
/// *and* client, so a guesser elsewhere cannot lock the owner out.
pub async fn attempt_password(
    state: &AppState,
    client: &Client,
    email: &str,
    password: Password,
) -> Result<Attempt, PageError> {
    let from = client_bucket(client.ip);
    let attempt = format!("{email}|{from}");
    for (budget, limit) in [
        (format!("login-ip:{from}"), ATTEMPTS_PER_IP),
        (format!("login-attempt:{attempt}"), ATTEMPTS_PER_EMAIL),
        (format!("login-email:{email}"), ATTEMPTS_PER_EMAIL_ANYWHERE),
    ] {
        let decision = state.limiter.decide(&budget, limit, Mode::Take).await;
        if !decision.allowed {
            return Ok(Attempt::TooMany(decision.reset_ms));
        }
    }
    if let Some(until) = state.store.login_locked_until(&attempt).await? {
        return Ok(Attempt::TooMany(until - now_ms()));
    }
    let user = state.store.user_by_email(email).await?;
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = password::verify(password, stored).await?;
    match user {
        Some(user) if matches => {
            state.store.clear_login_failures(&attempt).await?;
            Ok(Attempt::Matched(user))
        }
        known => {
            state
                .store
                .count_login_failure(&attempt, back_off_ms)
                .await?;
            if let Some(user) = known {
                // Off the response path, so a known address answers as fast as an unknown one.
                let (store, actor) = (state.store.clone(), Actor::anonymous(client.ip));
                tokio::spawn(async move {
                    let recorded = store.record_user_event(&user.id, &actor, "user.sign_in_failed");
                    if let Err(e) = recorded.await {
                        tracing::error!(error = %e, "could not audit a failed sign-in");
                    }
                });
            }
            Ok(Attempt::Wrong)
        }
    }
}

pub async fn login(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    PageForm(form): PageForm<Credentials>,
) -> Result<Response, PageError> {
    let email = normalise_email(&form.email).unwrap_or_else(|_| form.email.trim().to_lowercase());
    match attempt_password(&state, &client, &email, Password::new(form.password)).await? {
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

pub async fn forgot_page() -> Response {
    page(StatusCode::OK, FormPage::forgot())
}

pub async fn forgot(
    State(state): State<AppState>,
    PageForm(form): PageForm<EmailOnly>,
) -> Result<Response, PageError> {
    if let Ok(email) = normalise_email(&form.email)
        && let Some(user) = state.store.user_by_email(&email).await?
    {
        send_link(&state, &email, &user.id, RESET_PASSWORD, None).await?;
    }
    Ok(inbox(
        "Check your inbox",
        "If an account uses that address, we sent it a link to set a new password.",
    ))
}

pub async fn reset_page() -> Response {
    page(StatusCode::OK, FormPage::reset())
}

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
                notice: Some("Open the link from the email again if this page lost it.".to_owned()),
                ..FormPage::reset()
            },
        ));
    }
    let Some(token) = Token::parse(&form.token) else {
        return Ok(link_expired());
    };
    let phc = password::hash(password).await?;
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
