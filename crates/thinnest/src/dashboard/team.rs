//! The team page: invitations by email, roles, removal; accepting an invitation;
//! switching between one's workspaces.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::form::{FormPage, page};
use super::session::{Nav, SignedIn};
use super::view::When;
use super::{CsrfForm, MessagePage, PageError, PageForm, render, status_with};
use crate::domain::ids::{Id, InvitationId};
use crate::domain::people::normalise_email;
use crate::domain::roles::{Permission, Role};
use crate::domain::time::now_ms;
use crate::secrets::token::Token;
use crate::services::mail::{MailCause, mail_link, may_mail};
use crate::state::AppState;
use crate::store::teams::{MemberChange, NewInvitation};

const INVITATION_MS: i64 = 7 * 24 * 3_600_000;

struct MemberLine {
    user_id: String,
    email: String,
    role: &'static str,
    active_keys: i64,
}

struct InvitationLine {
    id: String,
    email: String,
    role: &'static str,
    expires: When,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    nav: Nav,
    members: Vec<MemberLine>,
    invitations: Vec<InvitationLine>,
    notice: Option<String>,
    error: Option<&'static str>,
}

async fn team_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::TeamManage)?;
    let account = &signed_in.session.account_id;
    let keys = state.store.active_keys_by_creator(account).await?;
    let members = state
        .store
        .members(account)
        .await?
        .into_iter()
        .map(|m| MemberLine {
            active_keys: keys.get(&m.user_id).copied().unwrap_or(0),
            role: m.role.as_str(),
            user_id: m.user_id,
            email: m.email,
        })
        .collect();
    let invitations = state
        .store
        .invitations(account)
        .await?
        .into_iter()
        .map(|i| InvitationLine {
            id: i.id,
            email: i.email,
            role: i.role.as_str(),
            expires: When::at_ms(i.expires_at),
        })
        .collect();
    let status = status_with(&error);
    let page = TeamPage {
        nav: signed_in.nav(),
        members,
        invitations,
        notice,
        error,
    };
    Ok(render(status, &page))
}

pub async fn team(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    team_page(&state, &signed_in, None, None).await
}

/// What the team page says when an address had its mail for the hour.
const MAIL_BUDGET_SPENT: &str = "That address has had as many invitations as it may get this \
     hour, or this workspace has sent as many as it may: try again later.";

/// Creates an invitation and emails its link; false (and nothing stored) when the
/// address has had its messages for the hour.
async fn send_invitation(
    state: &AppState,
    signed_in: &SignedIn,
    email: &str,
    role: Role,
) -> Result<bool, PageError> {
    if !may_mail(
        state,
        MailCause::Invitation {
            account: &signed_in.session.account_id,
        },
        email,
    )
    .await
    {
        return Ok(false);
    }
    let token = Token::generate();
    state
        .store
        .invite(
            &signed_in.session.account_id,
            &NewInvitation {
                email,
                role,
                token_hash: &token.hash(),
                expires_at: now_ms() + INVITATION_MS,
                invited_by: &signed_in.session.user_id,
            },
            &signed_in.actor(),
        )
        .await?;
    let text = format!(
        "{} invited you to the thinnest workspace \"{}\" as {}. Sign up or sign in with this \
         address, then open this link (valid for 7 days, once):",
        signed_in.session.email,
        signed_in.session.account_name,
        role.as_str()
    );
    let subject = "You are invited to a thinnest workspace";
    mail_link(
        state,
        email,
        subject,
        &text,
        "/app/invitations/accept",
        &token,
    );
    Ok(true)
}

#[derive(Deserialize)]
pub struct InviteForm {
    csrf_token: String,
    email: String,
    role: String,
}

pub async fn invite(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<InviteForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::TeamManage)?;
    let role = Role::try_from(form.role)
        .map_err(|_| PageError::Unreadable("role must be admin, editor or viewer.".to_owned()))?;
    let Ok(email) = normalise_email(&form.email) else {
        return team_page(
            &state,
            &signed_in,
            None,
            Some("Enter a valid email address."),
        )
        .await;
    };
    if !send_invitation(&state, &signed_in, &email, role).await? {
        return team_page(&state, &signed_in, None, Some(MAIL_BUDGET_SPENT)).await;
    }
    team_page(
        &state,
        &signed_in,
        Some(format!("Invitation sent to {email}.")),
        None,
    )
    .await
}

pub async fn resend(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::TeamManage)?;
    let account = &signed_in.session.account_id;
    let invitation = match InvitationId::parse(&id).is_some() {
        true => state.store.invitation(account, &id).await?,
        false => None,
    }
    .ok_or(PageError::NotFound)?;
    // A new link, valid 7 days more, goes out; then the old one stops working.
    if !send_invitation(&state, &signed_in, &invitation.email, invitation.role).await? {
        return team_page(&state, &signed_in, None, Some(MAIL_BUDGET_SPENT)).await;
    }
    state.store.cancel_invitation(account, &id).await?;
    let notice = format!("A new link was sent to {}.", invitation.email);
    team_page(&state, &signed_in, Some(notice), None).await
}

pub async fn cancel(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::TeamManage)?;
    if InvitationId::parse(&id).is_none()
        || !state
            .store
            .cancel_invitation(&signed_in.session.account_id, &id)
            .await?
    {
        return Err(PageError::NotFound);
    }
    team_page(
        &state,
        &signed_in,
        Some("Invitation cancelled.".to_owned()),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf_token: String,
    role: String,
}

async fn after_change(
    state: &AppState,
    signed_in: &SignedIn,
    change: MemberChange,
    done: &str,
) -> Result<Response, PageError> {
    match change {
        MemberChange::Done => team_page(state, signed_in, Some(done.to_owned()), None).await,
        MemberChange::NotFound => Err(PageError::NotFound),
        MemberChange::LastAdmin => {
            let error = "The workspace needs at least one Admin: make someone else Admin first.";
            team_page(state, signed_in, None, Some(error)).await
        }
    }
}

pub async fn change_role(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(user_id): Path<String>,
    PageForm(form): PageForm<RoleForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::TeamManage)?;
    let role = Role::try_from(form.role)
        .map_err(|_| PageError::Unreadable("role must be admin, editor or viewer.".to_owned()))?;
    let change = state
        .store
        .set_member_role(
            &signed_in.session.account_id,
            &user_id,
            role,
            &signed_in.actor(),
        )
        .await?;
    after_change(&state, &signed_in, change, "Role changed.").await
}

pub async fn remove(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(user_id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::TeamManage)?;
    let change = state
        .store
        .remove_member(&signed_in.session.account_id, &user_id, &signed_in.actor())
        .await?;
    after_change(
        &state,
        &signed_in,
        change,
        "Member removed and signed out of this workspace. The API keys they created still work: rotate them.",
    )
    .await
}

pub async fn accept_page(signed_in: Result<SignedIn, PageError>) -> Response {
    let mut form = FormPage::accept();
    form.csrf_token = signed_in.ok().map(|s| s.nav().csrf_token);
    page(StatusCode::OK, form)
}

#[derive(Deserialize)]
pub struct TokenForm {
    token: String,
    /// Present when the page was shown signed in.
    csrf_token: Option<String>,
}

pub async fn accept(
    State(state): State<AppState>,
    signed_in: Result<SignedIn, PageError>,
    PageForm(form): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    let token = Token::parse(&form.token).ok_or(PageError::NotFound)?;
    let Ok(signed_in) = signed_in else {
        let Some(email) = state.store.invitation_email(&token.hash()).await? else {
            return Err(PageError::NotFound);
        };
        let text = format!(
            "This invitation is for {email}. Sign in or sign up with that address, then open the link from the email again."
        );
        let mut message = MessagePage::new("Sign in to accept", &text);
        message.links = vec![("/app/login", "Sign in"), ("/app/signup", "Sign up")];
        return Ok(render(StatusCode::OK, &message));
    };
    signed_in.check_csrf(form.csrf_token.as_deref().unwrap_or_default())?;
    let joined = state
        .store
        .accept_invitation(
            &token.hash(),
            &signed_in.session.user_id,
            &signed_in.session.email,
            &signed_in.actor(),
        )
        .await?
        .ok_or(PageError::NotFound)?;
    state
        .store
        .switch_session(&signed_in.session.id, &signed_in.session.user_id, &joined)
        .await?;
    Ok(Redirect::to("/app").into_response())
}

#[derive(Deserialize)]
pub struct SwitchForm {
    csrf_token: String,
    account_id: String,
}

pub async fn switch(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<SwitchForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    let switched = state
        .store
        .switch_session(
            &signed_in.session.id,
            &signed_in.session.user_id,
            &form.account_id,
        )
        .await?;
    if !switched {
        return Err(PageError::NotFound);
    }
    Ok(([(header::CACHE_CONTROL, "no-store")], Redirect::to("/app")).into_response())
}
