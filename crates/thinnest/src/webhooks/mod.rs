//! Webhooks: the account's signing secret, endpoint rules, and the event catalogue.
//!
//! Deliveries are signed two ways: `X-ThinnestAI-Signature: sha256=<hex HMAC-SHA256>`
//! keyed by the secret string exactly as shown (`whsec_` included), and the Standard
//! Webhooks headers keyed by the base64-decoded part after `whsec_`.

pub mod client;
pub mod dispatch;
pub mod events;
pub mod target;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::AppState;
use crate::clock::now_ms;
use crate::store::webhooks::SecretRow;

/// A signing secret: `whsec_` and the base64 of 32 random bytes. No Debug shows it.
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

impl SigningSecret {
    pub fn generate() -> anyhow::Result<SigningSecret> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(SigningSecret(format!(
            "{}{}",
            thinnestai::SECRET_PREFIX,
            STANDARD.encode(bytes)
        )))
    }

    /// The secret exactly as shown to the user.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

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
    Ok(SigningSecret(String::from_utf8(bytes)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_whsec_and_the_base64_of_32_bytes() {
        let secret = SigningSecret::generate().unwrap_or_else(|e| panic!("{e}"));
        let text = secret.expose();
        let decoded = STANDARD
            .decode(
                text.strip_prefix(thinnestai::SECRET_PREFIX)
                    .unwrap_or_default(),
            )
            .unwrap_or_default();
        assert_eq!(decoded.len(), 32);
        assert_eq!(format!("{secret:?}"), "SigningSecret(…)");
    }
}
