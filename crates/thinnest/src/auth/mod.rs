//! Who is calling: the `Authorization: Bearer <key>` header becomes a [`Caller`].

pub mod cache;
pub mod password;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use crate::domain::actors::Actor;
use crate::domain::keys::Key;
use crate::domain::limits::Limits;
use crate::domain::roles::{Permission, Role};
use crate::error::AuthFailure;
use crate::error::{Error, Result};
use crate::secrets::api_key::{ApiKey, KeyHash};
use crate::store::Store;
use crate::store::api_keys::{KeyScope, StoredKey};
use cache::{KeyCache, Verified};

/// An authenticated API caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: String,
    pub key_id: String,
    /// The lineage of the presented key: the key and its rotations.
    pub key_lineage: String,
    /// When the presented key stops working, if it does.
    pub key_expires_at: Option<i64>,
    /// The key that replaced the presented one, once its rotation has begun.
    pub superseded_by: Option<String>,
    /// The user who created the key the caller presented.
    pub user_id: String,
    pub role: Role,
    pub client_ip: IpAddr,
}

impl Caller {
    /// Allows what the key's role allows; a key whose rotation has begun keeps
    /// working during its grace, but no longer governs the account.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if !permission.allowed_for(self.role) {
            return Err(Error::forbidden(format!(
                "This API key has the {} role, which cannot {}.",
                self.role.as_str(),
                permission.describe()
            )));
        }
        match &self.superseded_by {
            Some(successor) if permission.governs_the_account() => Err(Error::coded(
                StatusCode::FORBIDDEN,
                "key_superseded",
                format!(
                    "This API key was rotated and {successor} replaced it. Until it stops working it \
                     can still call the API, but it cannot {}: use {successor} for that.",
                    permission.describe()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Which API keys this caller may see: an Admin key every key of the account,
    /// any other key its own lineage (itself and its rotations) and the keys they made,
    /// transitively.
    pub fn key_scope(&self) -> Result<KeyScope<'_>> {
        self.require(Permission::ApiKeysOwn)?;
        Ok(if Permission::ApiKeysAll.allowed_for(self.role) {
            KeyScope::All
        } else {
            KeyScope::Lineage(&self.key_lineage)
        })
    }

    /// Whether this caller may revoke or rotate `target`, one of the keys it sees. A
    /// key and its rotations are one credential, as old as its first key: a key acts
    /// on itself and on younger credentials, never on an older one, nor on its own
    /// predecessor or successor. So a key that leaks cannot turn on the keys that
    /// were there before it, however often those were rotated since.
    pub fn may_act_on(&self, target: &Key) -> Result<()> {
        if target.id == self.key_id {
            return Ok(());
        }
        if target.lineage_id == self.key_lineage {
            return Err(Error::forbidden(format!(
                "{} is a rotation of this key: a key never acts on its own predecessor or successor.",
                target.id
            )));
        }
        // Lineage ids are the ids of their first keys, which sort by creation.
        if target.lineage_id < self.key_lineage {
            return Err(Error::forbidden(format!(
                "{} is older than this key: a key acts only on itself and on keys made after it. \
                 Use an older key, or the dashboard.",
                target.id
            )));
        }
        Ok(())
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, one space).
fn bearer_token(headers: &HeaderMap) -> Result<&str> {
    let value = headers
        .get(AUTHORIZATION)
        .ok_or(Error::Unauthorized(AuthFailure::Missing))?;
    let malformed = || Error::Unauthorized(AuthFailure::Malformed);
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_at_checked(7).ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer ") || token.is_empty() || token.contains(' ') {
        return Err(malformed());
    }
    Ok(token)
}

/// The key presented in these headers, whatever its state: missing, malformed and
/// unknown keys are refused here; the caller checks [`Key::is_active`].
pub async fn lookup(store: &Store, headers: &HeaderMap) -> Result<StoredKey> {
    stored(store, &presented(headers)?).await
}

/// The hash of the key presented in these headers.
fn presented(headers: &HeaderMap) -> Result<KeyHash> {
    let invalid = Error::Unauthorized(AuthFailure::InvalidKey);
    Ok(ApiKey::parse(bearer_token(headers)?).ok_or(invalid)?.hash())
}

async fn stored(store: &Store, hash: &KeyHash) -> Result<StoredKey> {
    let stored = store
        .key_by_hash(hash)
        .await?
        .ok_or(Error::Unauthorized(AuthFailure::InvalidKey))?;
    let same: bool = stored.key_hash.as_bytes().ct_eq(hash.0.as_bytes()).into();
    if !same {
        return Err(Error::Unauthorized(AuthFailure::InvalidKey));
    }
    Ok(stored)
}

/// What the presented key verified as, if this instance's cache holds it: no lookup.
pub fn cached(cache: &KeyCache, headers: &HeaderMap) -> Option<Arc<Verified>> {
    cache.get(&presented(headers).ok()?.0)
}

/// What the key presented in these headers verifies as, from the cache when it may be
/// trusted, else from the store (and then kept). Like [`lookup`], whatever its state.
pub async fn verify(
    cache: &KeyCache,
    store: &Store,
    defaults: Limits,
    headers: &HeaderMap,
) -> Result<Arc<Verified>> {
    let hash = presented(headers)?;
    if let Some(verified) = cache.get(&hash.0) {
        return Ok(verified);
    }
    let fill = cache.begin_fill();
    let stored = stored(store, &hash).await?;
    let verified = Arc::new(Verified {
        limits: defaults.with_overrides(&stored.rate_limits),
        key: stored.key,
    });
    cache.keep(fill, &hash.0, verified.clone());
    Ok(verified)
}

impl Caller {
    /// The caller of an active key, from this address.
    pub fn of(key: &Key, client_ip: IpAddr) -> Caller {
        Caller {
            account_id: key.account_id.clone(),
            key_id: key.id.clone(),
            key_lineage: key.lineage_id.clone(),
            key_expires_at: key.expires_at,
            superseded_by: key.replaced_by.clone(),
            user_id: key.created_by.clone(),
            role: key.role,
            client_ip,
        }
    }

    /// This caller as the audit log names it.
    pub fn actor(&self) -> Actor {
        Actor::api_key(&self.key_id, self.client_ip)
    }
}

/// Handlers take the `Caller` that the gate put into the request.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        parts.extensions.remove::<Caller>().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "{} is routed without the authentication gate",
                parts.uri.path()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn token(value: &str) -> Result<String> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        bearer_token(&headers).map(str::to_owned)
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_with_exactly_one_space() {
        assert_eq!(token("Bearer abc").unwrap(), "abc");
        assert_eq!(token("bEaReR abc").unwrap(), "abc");
        for bad in [
            "Bearer  abc",
            "Bearer",
            "Bearer ",
            "Bearerabc",
            "Basic abc",
            "Bearer a b",
        ] {
            assert!(token(bad).is_err(), "{bad:?} accepted");
        }
    }
}
