//! Settings > API keys: create (the secret shown once), list, revoke, with everything a key made.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::view::When;
use super::{PageError, PageForm, render, status_with};
use crate::domain::ids::{Id, KeyId};
use crate::domain::keys::Key;
use crate::domain::roles::{Permission, Role};
use crate::domain::time::now_ms;
use crate::secrets::api_key::ApiKey;
use crate::state::AppState;
use crate::store::api_keys::{KeyScope, NewKey, Rotated};

/// A key as the keys page lists it.
struct KeyLine {
    id: String,
    name: String,
    hint: String,
    role: &'static str,
    status: &'static str,
    created_by: String,
    /// The key that made this one, by name and hint, when a key did.
    made_by_key: Option<String>,
    /// Active keys this one made, transitively: what a cascading revocation ends too.
    made: i64,
    last_used: Option<When>,
    /// Set while a rotated key still works: when it stops.
    ends: Option<When>,
    active: bool,
    /// Active and not rotated yet.
    rotatable: bool,
}

#[derive(Template)]
#[template(path = "api_keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyLine>,
    roles: Vec<&'static str>,
    default_role: &'static str,
    graces: &'static [(i64, &'static str)],
    new_key: Option<String>,
    /// What the new key is: made, or a rotation's replacement.
    new_key_note: &'static str,
    error: Option<&'static str>,
}

/// The role a new key gets unless another is chosen: the least that builds agents.
const DEFAULT_ROLE: Role = Role::Editor;

/// How long a rotated key may keep working, as the rotate form offers it.
const GRACES: &[(i64, &str)] = &[
    (0, "Stop the old key now"),
    (3600, "Keep the old key for 1 hour"),
    (86_400, "Keep the old key for 24 hours"),
    (604_800, "Keep the old key for 7 days"),
];

/// The keys a signed-in person may see: all for an Admin, their own for an Editor.
fn scope(signed_in: &SignedIn) -> Result<KeyScope<'_>, PageError> {
    signed_in.require(Permission::ApiKeysOwn)?;
    Ok(if Permission::ApiKeysAll.allowed_for(signed_in.role()) {
        KeyScope::All
    } else {
        KeyScope::User(&signed_in.session.user_id)
    })
}

async fn keys_page(
    state: &AppState,
    signed_in: &SignedIn,
    new_key: Option<(ApiKey, &'static str)>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    let rows = state
        .store
        .list_keys(&signed_in.session.account_id, scope(signed_in)?)
        .await?;
    let emails = state
        .store
        .member_emails(&signed_in.session.account_id)
        .await?;
    let made = state
        .store
        .active_keys_made(&signed_in.session.account_id)
        .await?;
    let names: std::collections::HashMap<String, String> = rows
        .iter()
        .map(|k| (k.id.clone(), format!("{} ({})", k.name, k.hint)))
        .collect();
    let now = now_ms();
    let keys = rows
        .into_iter()
        .map(|k: Key| KeyLine {
            made_by_key: k
                .created_by_key
                .as_ref()
                .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone())),
            made: made.get(&k.id).copied().unwrap_or(0),
            ends: k
                .expires_at
                .filter(|_| k.replaced_by.is_some() && k.is_active(now))
                .map(When::at_ms),
            active: k.is_active(now),
            status: if k.revoked_at.is_some() {
                "Revoked"
            } else if !k.is_active(now) {
                "Expired"
            } else if k.replaced_by.is_some() {
                "Rotated"
            } else {
                "Active"
            },
            rotatable: k.is_active(now) && k.replaced_by.is_none(),
            created_by: emails.get(&k.created_by).cloned().unwrap_or(k.created_by),
            last_used: k.last_used_at.map(When::at_ms),

            role: k.role.as_str(),
            id: k.id,
            name: k.name,
            hint: k.hint,
        })
        .collect();
    let roles = [Role::Admin, Role::Editor, Role::Viewer]
        .into_iter()
        .filter(|r| *r <= signed_in.role())
        .map(Role::as_str)
        .collect();
    let status = status_with(&error);
    let page = KeysPage {
        nav: signed_in.nav(),
        keys,
        roles,
        new_key_note: new_key.as_ref().map_or("", |(_, note)| note),
        new_key: new_key.map(|(k, _)| k.expose().to_owned()),
        default_role: DEFAULT_ROLE.as_str(),
        graces: GRACES,
        error,
    };
    Ok(render(status, &page))
}

pub async fn api_keys(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    keys_page(&state, &signed_in, None, None).await
}

#[derive(Deserialize)]
pub struct NewKeyForm {
    csrf_token: String,
    name: String,
    role: String,
}

pub async fn create_api_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<NewKeyForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    scope(&signed_in)?;
    let name = form.name.trim();
    let role = Role::try_from(form.role)
        .map_err(|_| PageError::Unreadable("role must be admin, editor or viewer.".to_owned()))?;
    if role > signed_in.role() {
        return Err(PageError::Forbidden);
    }
    if name.is_empty() || name.chars().count() > 100 || name.contains('\0') {
        let error = Some("Give the key a name of 1 to 100 characters.");
        return keys_page(&state, &signed_in, None, error).await;
    }
    let (secret, new) = NewKey::mint(name, role, &signed_in.session.user_id, None, None);
    state
        .store
        .insert_key(&signed_in.session.account_id, &new, &signed_in.actor())
        .await?;
    let made = (secret, "Your new API key");
    keys_page(&state, &signed_in, Some(made), None).await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf_token: String,
    /// The checkbox "also revoke the keys it made".
    cascade: Option<String>,
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<RevokeForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    let account = &signed_in.session.account_id;
    if KeyId::parse(&id).is_none() {
        return Err(PageError::NotFound);
    }
    let key = state
        .store
        .get_key(account, scope(&signed_in)?, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    state
        .store
        .revoke_key(account, &key.id, form.cascade.is_some(), &signed_in.actor())
        .await?;
    Ok(Redirect::to("/app/settings/api-keys").into_response())
}

#[derive(Deserialize)]
pub struct RotateForm {
    csrf_token: String,
    /// Seconds the old key keeps working: one of [`GRACES`].
    grace: i64,
}

/// Replaces a key with a new one of the same name, role and expiry; the old one
/// stops now or after the grace chosen. The new secret is shown once.
pub async fn rotate_api_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<RotateForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    let account = &signed_in.session.account_id;
    if KeyId::parse(&id).is_none() {
        return Err(PageError::NotFound);
    }
    let old = state
        .store
        .get_key(account, scope(&signed_in)?, &id)
        .await?
        .ok_or(PageError::NotFound)?;
    if !GRACES.iter().any(|(seconds, _)| *seconds == form.grace) {
        return Err(PageError::Unreadable(
            "Choose how long the old key keeps working.".to_owned(),
        ));
    }
    // The replacement is the old key's maker's, as the key was: it stays on their page.
    let (secret, mut new) =
        NewKey::mint(&old.name, old.role, &old.created_by, None, old.expires_at);
    new.created_by_key = old.created_by_key.as_deref();
    let ends_at = (form.grace > 0).then(|| now_ms() + form.grace * 1000);
    let rotated = state
        .store
        .rotate_key(account, &old, ends_at, &new, None, &signed_in.actor())
        .await?;
    match rotated {
        Rotated::Done(_) => {
            let made = (secret, "The replacement key");
            keys_page(&state, &signed_in, Some(made), None).await
        }
        Rotated::AlreadyEnded | Rotated::MakerRetired => {
            let error =
                Some("This key was revoked, expired or rotated meanwhile; it was not rotated.");
            keys_page(&state, &signed_in, None, error).await
        }
    }
}
