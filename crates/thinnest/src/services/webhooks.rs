//! Webhook operations the API and the dashboard share: the account's signing secrets.

use crate::domain::time::now_ms;
use crate::secrets::signing::SigningSecret;
use crate::state::AppState;
use crate::store::webhooks::SecretRow;

/// The secrets that sign and verify for an account right now.
#[derive(Debug)]
pub struct SigningSecrets {
    pub current: SigningSecret,
    /// The rotated-out secret, while its grace period lasts, and when it ends.
    pub previous: Option<(SigningSecret, i64)>,
    /// The current secret as stored, to rotate from.
    pub current_sealed: String,
}

fn context(account_id: &str) -> String {
    format!("webhook-signing-secret:{account_id}")
}

fn open(state: &AppState, account_id: &str, sealed: &str) -> anyhow::Result<SigningSecret> {
    let bytes = state.sealer.open(sealed, &context(account_id))?;
    Ok(SigningSecret::from_stored(String::from_utf8(bytes)?))
}

/// The account's secrets, creating the first one when the account has none yet.
pub async fn signing_secrets(state: &AppState, account_id: &str) -> anyhow::Result<SigningSecrets> {
    let row = match state.store.webhook_secrets(account_id).await? {
        Some(row) => row,
        None => {
            let (_, sealed) = seal_new(state, account_id)?;
            state
                .store
                .insert_webhook_secret(account_id, &sealed)
                .await?;
            // Another request may have stored one first: read back whichever won.
            state
                .store
                .webhook_secrets(account_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the signing secret vanished"))?
        }
    };
    let SecretRow {
        current_sealed,
        previous_sealed,
        previous_expires_at,
    } = row;
    let previous = match (previous_sealed, previous_expires_at) {
        (Some(sealed), Some(until)) if until > now_ms() => {
            Some((open(state, account_id, &sealed)?, until))
        }
        _ => None,
    };
    Ok(SigningSecrets {
        current: open(state, account_id, &current_sealed)?,
        previous,
        current_sealed,
    })
}

/// A new secret for the account, and its sealed form to store.
pub fn seal_new(state: &AppState, account_id: &str) -> anyhow::Result<(SigningSecret, String)> {
    let secret = SigningSecret::generate()?;
    let sealed = state
        .sealer
        .seal(secret.expose().as_bytes(), &context(account_id))?;
    Ok((secret, sealed))
}
