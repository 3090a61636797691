//! Webhook signing secrets: `whsec_` and the base64 of 32 random bytes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

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

    /// A secret read back from the store, unsealed.
    pub fn from_stored(text: String) -> SigningSecret {
        SigningSecret(text)
    }

    /// The secret exactly as shown to the user.
    pub fn expose(&self) -> &str {
        &self.0
    }
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
