//! Sign-in with Google, GitHub or another OpenID Connect provider, and connecting
//! one of them to a signed-in user.
//!
//! - A flow starts with a POST (so no link or prefetch starts one) and a flow cookie
//!   (`__Host-`, 10 minutes); its state's hash is stored. The callback first checks
//!   that the state is the one this browser's cookie derives, then deletes it, so
//!   each state works once, on any instance.
//! - The callback must come to the path of the provider the flow started with,
//!   naming that provider's issuer if it names one.
//! - An identity is found by issuer and subject. A new identity whose verified
//!   email belongs to a password account joins it only after that password is
//!   given (with sign-in throttling). A signed-in user connects one after giving
//!   their password again (or, without one, within minutes of signing in), and is
//!   emailed about every connection and disconnection.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::security::security_page;
use super::session::{SignedIn, cookie_token};
use super::sign_in::{signed_in_redirect, workspace_name};
use super::throttle::{Attempt, attempt_password};
use super::{MessagePage, PageError, PageForm, render};
use crate::auth::password::Password;
use crate::domain::identities::NewIdentity;
use crate::domain::people::{MAX_EMAIL_LEN, normalise_email};
use crate::domain::time::now_ms;
use crate::identity::{FlowError, FlowSecrets, Provider};
use crate::net::Client;
use crate::secrets::token::{Token, sha256_hex};
use crate::services::mail::notify;
use crate::state::AppState;

pub(super) const FLOW_COOKIE: &str = "__Host-thinnest_oauth";
const FLOW_TTL_MS: i64 = 10 * 60_000;

pub(super) fn flow_cookie(token: &Token) -> Result<HeaderValue, PageError> {
    let cookie = format!(
        "{FLOW_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        token.expose(),
        FLOW_TTL_MS / 1000
    );
    Ok(HeaderValue::from_str(&cookie)?)
}

fn flow_cookie_cleared() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-thinnest_oauth=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

fn with_flow_cleared(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::SET_COOKIE, flow_cookie_cleared());
    response
}

/// The exact redirect URI registered with every provider.
fn redirect_uri(state: &AppState, provider: &Provider) -> String {
    format!("{}/app/oauth/{}/callback", state.link_base(), provider.slug)
}

/// A page for a flow that stopped, naming the reason's code; the detail (which may
/// quote the provider, never a secret) is only logged, as a field.
fn did_not_complete(provider: &Provider, reason: &str, detail: &str) -> Response {
    tracing::warn!(
        provider = provider.slug,
        reason,
        detail = ?detail,
        "sign-in with a provider stopped"
    );
    let text = format!(
        "Signing in with {} did not complete (reason: {reason}). Start again from the sign-in page.",
        provider.label
    );
    stopped(StatusCode::BAD_REQUEST, "Sign-in did not complete", text)
}

pub(super) fn stopped(status: StatusCode, title: &str, text: String) -> Response {
    let message = MessagePage {
        title: title.to_owned(),
        text,
        links: vec![("/app/login", "Back to sign in")],
    };
    with_flow_cleared(render(status, &message))
}

fn flow_failed(provider: &Provider, error: FlowError) -> Response {
    match error {
        FlowError::Refused { reason, detail } => did_not_complete(provider, reason, &detail),
        FlowError::Provider(detail) => {
            tracing::error!(
                provider = provider.slug,
                detail = ?detail,
                "identity provider unusable"
            );
            let text = format!(
                "{} could not be reached just now. Try again in a moment, or sign in another way.",
                provider.label
            );
            stopped(StatusCode::BAD_GATEWAY, "Sign-in did not complete", text)
        }
    }
}

fn provider<'a>(state: &'a AppState, slug: &str) -> Result<&'a Provider, PageError> {
    state
        .identity
        .providers
        .get(slug)
        .ok_or(PageError::NotFound)
}

/// Starts a flow: a flow cookie, the state's hash stored, and off to the provider.
/// `link_user` is set when a signed-in user connects the provider. (The route spends
/// the client's budget for provider flows first.)
async fn begin(
    state: &AppState,
    provider: &Provider,
    link_user: Option<&str>,
) -> Result<Response, PageError> {
    let token = Token::generate();
    let flow = FlowSecrets::of(&token);
    let redirect = redirect_uri(state, provider);
    let url = match provider
        .authorize_url(&state.identity.http, &redirect, &flow)
        .await
    {
        Ok(url) => url,
        Err(e) => return Ok(flow_failed(provider, e)),
    };
    state
        .store
        .insert_oauth_flow(
            &sha256_hex(&flow.state),
            provider.slug,
            link_user,
            now_ms() + FLOW_TTL_MS,
        )
        .await?;
    Ok((
        [(header::SET_COOKIE, flow_cookie(&token)?)],
        Redirect::to(url.as_str()),
    )
        .into_response())
}

/// "Continue with …" on the sign-in and sign-up pages.
pub async fn start(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let provider = provider(&state, &slug)?;
    begin(&state, provider, None).await
}

#[derive(Deserialize)]
pub struct ConnectForm {
    csrf_token: String,
    provider: String,
    /// Required when the user has a password.
    password: Option<String>,
}

/// Without a password, connecting needs a sign-in this recent.
const FRESH_SIGN_IN_MS: i64 = 10 * 60_000;

/// "Connect …" on the security page: the password again (a stolen session alone
/// cannot add a way in), or a fresh sign-in for users who have none.
pub async fn connect_start(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    signed_in: SignedIn,
    PageForm(form): PageForm<ConnectForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    let provider = provider(&state, &form.provider)?;
    let email = &signed_in.session.email;
    let user = state
        .store
        .user_by_email(email)
        .await?
        .ok_or(PageError::SignIn)?;
    let refusal = if user.password_hash.is_some() {
        let password = Password::new(form.password.unwrap_or_default());
        match attempt_password(&state, &client, &headers, email, password).await? {
            Attempt::Matched(_) => None,
            Attempt::Wrong => Some("The password is wrong."),
            Attempt::TooMany(_) => Some("Too many attempts. Try again in a few minutes."),
        }
    } else {
        let max_ms = i64::from(state.config.dashboard.session_max_hours) * 3_600_000;
        let signed_in_at = signed_in.session.expires_at - max_ms;
        (now_ms() - signed_in_at > FRESH_SIGN_IN_MS)
            .then_some("Sign out and in again, then connect within ten minutes.")
    };
    if let Some(error) = refusal {
        return security_page(&state, &signed_in, None, Some(error.to_owned())).await;
    }
    begin(&state, provider, Some(&user.id)).await
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    signed_in: Result<SignedIn, PageError>,
    query: Result<Query<CallbackQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let provider = provider(&state, &slug)?;
    let refuse = |reason: &str, detail: &str| Ok(did_not_complete(provider, reason, detail));
    let Ok(Query(query)) = query else {
        return refuse("bad_request", "an unreadable callback query");
    };
    let Some(sent_state) = query.state else {
        return refuse("no_state", "the callback has no state");
    };
    // The state must be the one this browser's cookie derives: a callback opened in
    // another browser (login CSRF, a leaked URL) cannot even spend the state.
    let Some(token) = cookie_token(&headers, FLOW_COOKIE) else {
        return refuse("no_flow_cookie", "this browser started no flow");
    };
    let secrets = FlowSecrets::of(&token);
    if !bool::from(secrets.state.as_bytes().ct_eq(sent_state.as_bytes())) {
        return refuse("state_mismatch", "the state is not this browser's");
    }
    // From here on the state is spent, whatever happens next.
    let Some(flow) = state
        .store
        .take_oauth_flow(&sha256_hex(&sent_state))
        .await?
    else {
        return refuse("state_used", "the state is expired or already used");
    };
    // Mix-up defence: the answer must come from the provider the flow went to.
    if flow.provider != provider.slug {
        return refuse(
            "other_provider",
            "the flow was started with another provider",
        );
    }
    if let Some(iss) = query.iss.as_deref().filter(|iss| !provider.is_issuer(iss)) {
        return refuse("other_issuer", &format!("`iss` names {iss}"));
    }
    if let Some(error) = query.error {
        return refuse("provider_error", &format!("the provider answered {error}"));
    }
    let Some(code) = query.code else {
        return refuse("no_code", "the callback has no code");
    };
    let redirect = redirect_uri(&state, provider);
    let found = match provider
        .finish(&state.identity.http, &redirect, &secrets, code)
        .await
    {
        Ok(found) => found,
        Err(e) => return Ok(flow_failed(provider, e)),
    };
    let identity = NewIdentity {
        provider: provider.slug.to_owned(),
        issuer: found.issuer,
        subject: found.subject,
        // Addresses are compared as sign-up stores them; anything else is no address.
        email: found
            .verified_email
            .and_then(|e| normalise_email(&e).ok())
            .filter(|e| e.len() <= MAX_EMAIL_LEN),
    };
    match flow.link_user_id {
        Some(user_id) => connect(&state, signed_in, &user_id, provider, &identity).await,
        None => sign_in_with(&state, &client, &headers, provider, &identity, &token).await,
    }
}

/// The end of a flow started from the security page: the user proved who they are
/// by signing in, so the identity joins them, unless it is someone else's.
async fn connect(
    state: &AppState,
    signed_in: Result<SignedIn, PageError>,
    user_id: &str,
    provider: &Provider,
    identity: &NewIdentity,
) -> Result<Response, PageError> {
    let signed_in = match signed_in {
        Ok(s) if s.session.user_id == user_id => s,
        _ => {
            let detail = "the session that started connecting ended";
            return Ok(did_not_complete(provider, "session_ended", detail));
        }
    };
    let owner = state
        .store
        .identity_owner(&identity.issuer, &identity.subject)
        .await?;
    let linked = match owner {
        Some(owner) => owner == user_id,
        None => {
            state
                .store
                .link_identity(user_id, identity, &signed_in.actor())
                .await?
        }
    };
    if !linked {
        let text = format!(
            "That {} account is already connected to another thinnest user.",
            provider.label
        );
        return Ok(stopped(StatusCode::CONFLICT, "Already connected", text));
    }
    notify_connected(state, &signed_in.session.email, provider).await;
    let to = format!("/app/settings/security?connected={}", provider.slug);
    Ok(with_flow_cleared(Redirect::to(&to).into_response()))
}

pub(super) async fn notify_connected(state: &AppState, to: &str, provider: &Provider) {
    let text = format!(
        "{} sign-in was connected to your thinnest account: it now signs you in.",
        provider.label
    );
    notify(state, to, "A sign-in method was connected", &text).await;
}

pub(super) async fn signed_in_as(
    state: &AppState,
    user_id: &str,
    client: &Client,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let email = state.store.user_email(user_id).await?;
    let response = signed_in_redirect(state, user_id, &email, client, headers).await?;
    Ok(with_flow_cleared(response))
}

/// The end of a flow started from the sign-in page.
async fn sign_in_with(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    provider: &Provider,
    identity: &NewIdentity,
    token: &Token,
) -> Result<Response, PageError> {
    if let Some(user_id) = state
        .store
        .identity_owner(&identity.issuer, &identity.subject)
        .await?
    {
        state
            .store
            .touch_identity(&identity.issuer, &identity.subject)
            .await?;
        return signed_in_as(state, &user_id, client, headers).await;
    }
    let Some(email) = identity.email.clone() else {
        let text = format!(
            "Your {} account has no verified email address. Verify one there, or sign up with email and password.",
            provider.label
        );
        return Ok(stopped(StatusCode::FORBIDDEN, "No verified email", text));
    };
    let unconfirmed = match state.store.user_by_email(&email).await? {
        // An existing password account: its password must be given first.
        Some(user) if user.password_hash.is_some() => {
            let expires_at = now_ms() + FLOW_TTL_MS;
            state
                .store
                .insert_pending_link(&token.hash(), &user.id, identity, expires_at)
                .await?;
            return Ok((
                [(header::SET_COOKIE, flow_cookie(token)?)],
                Redirect::to("/app/oauth/link"),
            )
                .into_response());
        }
        // Perhaps a sign-up never confirmed, in no workspace: the provider verified
        // the address, which settles who owns it.
        Some(user) => Some(user.id),
        None => None,
    };
    let workspace = workspace_name(&email);
    let first = state
        .store
        .first_sign_in(
            unconfirmed.as_deref(),
            &email,
            &workspace,
            identity,
            client.ip,
        )
        .await?;
    match first {
        Some(user_id) => signed_in_as(state, &user_id, client, headers).await,
        None => {
            let text = format!(
                "An account with this email already exists. Sign in to it (\"Forgot your password?\" sets its password), then connect {} on the Security page.",
                provider.label
            );
            Ok(stopped(StatusCode::CONFLICT, "Sign in another way", text))
        }
    }
}
