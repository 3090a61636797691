//! Random secrets handed to a browser or an inbox (session cookies, email links):
//! 43 base62 characters (≈256 bits); only their SHA-256 is stored.

use std::fmt;

use sha2::{Digest, Sha256};

use super::api_key::random_base62;

const LEN: usize = 43;

/// A secret token. No Debug or Display shows it.
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    pub fn generate() -> Token {
        Token(random_base62(LEN))
    }

    /// A token of the right shape, or nothing.
    pub fn parse(text: &str) -> Option<Token> {
        (text.len() == LEN && text.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Token(text.to_owned()))
    }

    /// What the store keeps: SHA-256, lowercase hex.
    pub fn hash(&self) -> String {
        sha256_hex(&self.0)
    }

    /// A value derived from the token for another use (the CSRF token of a session).
    pub fn derive(&self, purpose: &str) -> String {
        hex::encode(Sha256::digest(format!("{purpose}\0{}", self.0).as_bytes()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a text, lowercase hex: how secrets are stored.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
