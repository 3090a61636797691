//! Who a widget visitor is: anonymous, or vouched for by the customer's server with a
//! user hash (hex HMAC of the user id keyed by the signing secret string) or a JWT.

use std::fmt;

use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Page;
use crate::domain::embed::Verification;
use crate::domain::fields::Check;
use crate::domain::time::now_ms;
use crate::domain::widget::{MAX_USER_FIELD, Visitor, check_identity};
use crate::error::{Error, Result};
use crate::services::webhooks::signing_secrets;
use crate::state::AppState;

// Debug (below) hides the user hash and JWT.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    pub agent_id: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// Lowercase hex HMAC-SHA256 of `user_id`, keyed by the UTF-8 bytes of the
    /// account's signing secret string (`whsec_…`).
    pub user_hash: Option<String>,
    /// Instead of a hash: a JWT signed HS256 with the base64-decoded 32 bytes after
    /// `whsec_` (not the string that keys user hashes, so a hash is never a token's
    /// signature), with `sub` (the user id) and `exp` in the future, at most an hour
    /// ahead; `name` and `email` are optional.
    pub user_jwt: Option<String>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| "…");
        f.debug_struct("NewSession")
            .field("agent_id", &self.agent_id)
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("user_email", &self.user_email)
            .field("user_hash", &hidden(&self.user_hash))
            .field("user_jwt", &hidden(&self.user_jwt))
            .finish()
    }
}

/// The claims of a visitor's JWT.
#[derive(Debug, Deserialize)]
struct VisitorClaims {
    sub: String,
    exp: i64,
    name: Option<String>,
    email: Option<String>,
}

/// The longest a visitor's JWT may live: a leaked one soon stops working.
const MAX_JWT_SECONDS: i64 = 3600;

pub(super) fn invalid_token() -> Error {
    Error::coded(
        StatusCode::UNAUTHORIZED,
        "invalid_user_token",
        "The user JWT is not valid: sign it HS256 with the base64-decoded part of the signing secret after whsec_, with sub and an exp at most an hour ahead.",
    )
}

/// The visitor a JWT names, if one of the secrets valid now signed it. The key is the
/// secret's Standard Webhooks key (its decoded bytes), never the string that keys user
/// hashes: otherwise a hash of an id shaped like `<header>.<payload>` would be a valid
/// token for any `sub`.
pub(super) fn visitor_from_jwt(token: &str, secrets: &[&str]) -> Option<Visitor> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_aud = false;
    // No leeway: a session never starts already expired.
    validation.leeway = 0;
    let claims = secrets.iter().find_map(|secret| {
        let key = thinnestai::standard_key(secret).ok()?;
        decode::<VisitorClaims>(token, &DecodingKey::from_secret(&key), &validation)
            .ok()
            .map(|data| data.claims)
    })?;
    let now = now_ms() / 1000;
    let mut check = Check::new();
    check_identity(
        &mut check,
        Some(&claims.sub),
        claims.name.as_deref(),
        claims.email.as_deref(),
    );
    if claims.exp <= now || claims.exp - now > MAX_JWT_SECONDS || check.finish().is_err() {
        return None;
    }
    Some(Visitor {
        user_id: Some(claims.sub),
        user_name: claims.name,
        user_email: claims.email,
        until: Some(claims.exp * 1000),
    })
}

pub(super) fn invalid_hash() -> Error {
    Error::coded(
        StatusCode::UNAUTHORIZED,
        "invalid_user_hash",
        "The user hash does not match the user id: compute it on your server with the signing secret.",
    )
}

/// Who the page says the visitor is: known when the hash or JWT verifies with a secret
/// valid now.
pub(super) async fn introduce(state: &AppState, page: &Page) -> Result<Visitor> {
    let (verification, body) = (page.embed.identity_verification, &page.body);
    if verification == Verification::Off {
        return Ok(Visitor::default());
    }
    if body.user_hash.is_none() && body.user_jwt.is_none() {
        return match verification {
            Verification::Required => Err(invalid_hash()),
            _ => Ok(Visitor::default()),
        };
    }
    let secrets = signing_secrets(state, &page.account).await?;
    let mut valid = vec![secrets.current.expose()];
    if let Some((previous, _)) = &secrets.previous {
        valid.push(previous.expose());
    }
    if let Some(token) = &body.user_jwt {
        return match visitor_from_jwt(token, &valid) {
            Some(visitor) => Ok(visitor),
            None if verification == Verification::Required => Err(invalid_token()),
            None => Ok(Visitor::default()),
        };
    }
    let verified = match (&body.user_id, &body.user_hash) {
        (Some(user_id), Some(hash)) => valid
            .iter()
            .any(|secret| thinnestai::verify_hex(user_id.as_bytes(), hash, secret).is_ok()),
        _ => false,
    };
    match (verified, verification) {
        (true, _) => Ok(Visitor {
            user_id: body.user_id.clone(),
            user_name: body.user_name.clone(),
            user_email: body.user_email.clone(),
            until: None,
        }),
        (false, Verification::Required) => Err(invalid_hash()),
        (false, _) => Ok(Visitor::default()),
    }
}

pub(super) fn check_session(body: &NewSession) -> Result<()> {
    let mut check = Check::new();
    check_identity(
        &mut check,
        body.user_id.as_deref(),
        body.user_name.as_deref(),
        body.user_email.as_deref(),
    );
    if let Some(hash) = &body.user_hash {
        check.text("user_hash", hash, 1, MAX_USER_FIELD);
    }
    if let Some(token) = &body.user_jwt {
        check.text("user_jwt", token, 1, 4096);
    }
    Ok(check.finish()?)
}
