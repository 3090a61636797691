//! Sign-in with Google, GitHub or another OpenID Connect provider, and connecting
//! one of them to a signed-in user.
//!
//! - A flow starts with a POST (so no link or prefetch starts one) and a flow cookie
//!   (`__Host-`, 10 minutes); its state's hash is stored and deleted by the callback,
//!   so each state works once, on any instance.
//! - The callback must come to the path of the provider the flow started with, in
//!   the browser that started it, naming that provider's issuer if it names one.
//! - An identity is found by issuer and subject. A new identity whose verified
//!   email belongs to a password account joins it only after that password is
//!   given (with sign-in throttling); a signed-in user can connect one directly.

use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::session::{SignedIn, cookie_token};
use super::sign_in::{Attempt, FormPage, attempt_password, page, signed_in_redirect, workspace_of};
use super::{MessagePage, PageError, PageForm, render};
use crate::AppState;
use crate::auth::password::Password;
use crate::auth::token::{Token, sha256_hex};
use crate::clock::now_ms;
use crate::identity::{FlowError, FlowSecrets, Provider};
use crate::net::Client;
use crate::store::audit::Actor;
use crate::store::identities::{NewIdentity, PendingLink};

const FLOW_COOKIE: &str = "__Host-thinnest_oauth";
const FLOW_TTL_MS: i64 = 10 * 60_000;

fn flow_cookie(token: &Token) -> Result<HeaderValue, PageError> {
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

/// A page for a flow that stopped; why is logged (it may describe the provider's
/// internals, never a secret), not shown.
fn did_not_complete(provider: &Provider, why: &dyn std::fmt::Display) -> Response {
    tracing::warn!(
        provider = provider.slug,
        "sign-in with a provider stopped: {why}"
    );
    let text = format!(
        "Signing in with {} did not complete. Start again from the sign-in page.",
        provider.label
    );
    stopped(StatusCode::BAD_REQUEST, "Sign-in did not complete", text)
}

fn stopped(status: StatusCode, title: &str, text: String) -> Response {
    let message = MessagePage {
        title: title.to_owned(),
        text,
        links: vec![("/app/login", "Back to sign in")],
    };
    with_flow_cleared(render(status, &message))
}

fn flow_failed(provider: &Provider, error: &FlowError) -> Response {
    match error {
        FlowError::Refused(_) => did_not_complete(provider, error),
        FlowError::Provider(_) => {
            tracing::error!(
                provider = provider.slug,
                "identity provider unusable: {error}"
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

/// Present when a signed-in user connects a provider from the security page.
#[derive(Deserialize)]
pub struct StartForm {
    csrf_token: Option<String>,
}

pub async fn start(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    signed_in: Result<SignedIn, PageError>,
    PageForm(form): PageForm<StartForm>,
) -> Result<Response, PageError> {
    let provider = provider(&state, &slug)?;
    let link_user = match form.csrf_token {
        None => None,
        Some(csrf) => {
            let signed_in = signed_in?;
            signed_in.check_csrf(&csrf)?;
            Some(signed_in.session.user_id)
        }
    };
    let token = Token::generate();
    let flow = FlowSecrets::of(&token);
    let redirect = redirect_uri(&state, provider);
    let url = match provider
        .authorize_url(&state.identity.http, &redirect, &flow)
        .await
    {
        Ok(url) => url,
        Err(e) => return Ok(flow_failed(provider, &e)),
    };
    state
        .store
        .insert_oauth_flow(
            &sha256_hex(&flow.state),
            provider.slug,
            link_user.as_deref(),
            now_ms() + FLOW_TTL_MS,
        )
        .await?;
    Ok((
        [(header::SET_COOKIE, flow_cookie(&token)?)],
        Redirect::to(url.as_str()),
    )
        .into_response())
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
    let Ok(Query(query)) = query else {
        return Ok(did_not_complete(provider, &"an unreadable callback query"));
    };
    let Some(sent_state) = query.state else {
        return Ok(did_not_complete(provider, &"no state"));
    };
    // From here on the state is spent, whatever happens next.
    let Some(flow) = state
        .store
        .take_oauth_flow(&sha256_hex(&sent_state))
        .await?
    else {
        return Ok(did_not_complete(
            provider,
            &"an unknown, expired or used state",
        ));
    };
    let Some(token) = cookie_token(&headers, FLOW_COOKIE) else {
        return Ok(did_not_complete(
            provider,
            &"no flow cookie in this browser",
        ));
    };
    let secrets = FlowSecrets::of(&token);
    if !bool::from(secrets.state.as_bytes().ct_eq(sent_state.as_bytes())) {
        return Ok(did_not_complete(provider, &"the state of another browser"));
    }
    // Mix-up defence: the answer must come from the provider the flow went to.
    if flow.provider != provider.slug {
        return Ok(did_not_complete(
            provider,
            &"a flow started with another provider",
        ));
    }
    if query
        .iss
        .as_deref()
        .is_some_and(|iss| !provider.is_issuer(iss))
    {
        return Ok(did_not_complete(provider, &"`iss` names another issuer"));
    }
    if let Some(error) = query.error {
        let error: String = error
            .chars()
            .filter(char::is_ascii_graphic)
            .take(64)
            .collect();
        return Ok(did_not_complete(
            provider,
            &format!("the provider answered `{error}`"),
        ));
    }
    let Some(code) = query.code else {
        return Ok(did_not_complete(provider, &"no code"));
    };
    let redirect = redirect_uri(&state, provider);
    let found = match provider
        .finish(&state.identity.http, &redirect, &secrets, code)
        .await
    {
        Ok(found) => found,
        Err(e) => return Ok(flow_failed(provider, &e)),
    };
    let identity = NewIdentity {
        provider: provider.slug.to_owned(),
        issuer: found.issuer,
        subject: found.subject,
        email: found.verified_email,
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
            return Ok(did_not_complete(
                provider,
                &"the session that started it ended",
            ));
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
    let to = format!("/app/settings/security?connected={}", provider.slug);
    Ok(with_flow_cleared(Redirect::to(&to).into_response()))
}

async fn signed_in_as(
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
        return signed_in_as(state, &user_id, client, headers).await;
    }
    let Some(email) = identity.email.clone() else {
        let text = format!(
            "Your {} account has no verified email address. Verify one there, or sign up with email and password.",
            provider.label
        );
        return Ok(stopped(StatusCode::FORBIDDEN, "No verified email", text));
    };
    let user_id = match state.store.user_by_email(&email).await? {
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
        // A sign-up never confirmed: the provider verified the address, which settles
        // who owns it; the confirmation links sent for that sign-up stop working.
        Some(user) if state.store.is_unclaimed(&user.id).await? => {
            state.store.claim_user(&user.id).await?;
            user.id
        }
        Some(_) => {
            let text = format!(
                "An account with this email signs in another way. Sign in that way, then connect {} on the Security page.",
                provider.label
            );
            return Ok(stopped(StatusCode::CONFLICT, "Sign in another way", text));
        }
        None => match state.store.create_user(&email).await? {
            Some(user_id) => {
                state.store.mark_email_verified(&user_id).await?;
                user_id
            }
            None => {
                return Ok(did_not_complete(
                    provider,
                    &"the address was taken meanwhile",
                ));
            }
        },
    };
    // The workspace first, so that the link is audited in it.
    workspace_of(state, &user_id, &email).await?;
    let actor = Actor::user(&user_id, client.ip);
    if !state
        .store
        .link_identity(&user_id, identity, &actor)
        .await?
    {
        return Ok(did_not_complete(
            provider,
            &"the identity was linked meanwhile",
        ));
    }
    signed_in_as(state, &user_id, client, headers).await
}

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
    let (status, error) =
        match attempt_password(&state, &client, &email, Password::new(form.password)).await? {
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
                    crate::ratelimit::seconds_until(wait_ms)
                ),
            ),
        };
    let mut form = link_form(&state, &link).await?;
    form.error = Some(error);
    Ok(page(status, form))
}
