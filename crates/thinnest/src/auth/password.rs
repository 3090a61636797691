//! Passwords: a policy check, then Argon2id with the OWASP parameters (19 MiB,
//! 2 passes, 1 lane), computed on the blocking pool, never on the async workers.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// The 10,000 most common passwords, shipped in the repository.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect()
});

/// A password as typed. No Debug or Display shows it.
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    pub fn new(text: String) -> Password {
        Password(text)
    }

    /// Why this password may not be chosen, if it may not: 8 to 1024 characters,
    /// no composition rules, not one of the 10,000 most common.
    pub fn problem(&self) -> Option<&'static str> {
        let len = self.0.chars().count();
        if len < 8 {
            Some("must be at least 8 characters")
        } else if len > 1024 {
            Some("must be at most 1024 characters")
        } else if COMMON.contains(self.0.to_lowercase().as_str()) {
            Some("is one of the most common passwords; choose another")
        } else {
            None
        }
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of the password's Argon2id hash, with a fresh salt.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.0.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))
    })
    .await?
}

/// Whether the password matches the stored PHC string. Without one, the same work
/// is done against a dummy hash, so that both answers take as long.
pub async fn verify(password: Password, stored: Option<String>) -> anyhow::Result<bool> {
    static DUMMY: LazyLock<String> = LazyLock::new(|| {
        argon2()
            .hash_password(b"not anybody's password")
            .map(|h| h.to_string())
            .unwrap_or_default()
    });
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY.clone());
        let matches = argon2()
            .verify_password(password.0.as_bytes(), phc.as_str())
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_wants_length_and_refuses_common_passwords() {
        let problem = |p: &str| Password::new(p.to_owned()).problem();
        assert!(problem("short").is_some());
        assert!(problem("password1").is_some(), "common");
        assert!(problem("PASSWORD1").is_some(), "common in any case");
        assert!(problem("correct horse battery staple").is_none());
        assert!(problem(&"x".repeat(1025)).is_some());
        assert!(problem(&"é".repeat(8)).is_none(), "characters, not bytes");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let phc = hash(Password::new("tunnel-lamp-orbit".into()))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let check = |p: &str, stored: Option<String>| verify(Password::new(p.into()), stored);
        assert!(check("tunnel-lamp-orbit", Some(phc.clone())).await.unwrap());
        assert!(!check("tunnel-lamp-orbiT", Some(phc)).await.unwrap());
        assert!(!check("anything", None).await.unwrap());
    }
}
