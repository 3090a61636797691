//! API keys: `tai_` + 32 base62 characters (≈190 bits from the OS CSPRNG) + a
//! 6-character base62 CRC32 of everything before it.
//!
//! The checksum lets the server refuse a mistyped or truncated key without a
//! database lookup, and lets secret scanners validate keys offline. Only the
//! SHA-256 of the whole key is stored, with a display hint.

use std::fmt;

use sha2::{Digest, Sha256};

/// The fixed, documented key prefix. Never change it: secret scanners match on it.
pub const PREFIX: &str = "tai_";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// Total length of a key.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plaintext API key. It has no Debug or Display that shows the secret.
pub struct ApiKey(String);

/// The SHA-256 of a key, lowercase hex: what the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash(pub String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.hint())
    }
}

/// The base62 CRC32 of a key's body (ASCII).
fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// `count` characters drawn uniformly from the base62 alphabet (rejection sampling).
pub(crate) fn random_base62(count: usize) -> String {
    let mut out = String::with_capacity(count);
    let mut buf = [0u8; 64];
    while out.len() < count {
        getrandom::fill(&mut buf).expect("the OS random number generator failed");
        for &b in &buf {
            // 248 = 4 × 62: accepting only bytes below it keeps every character equally likely.
            if b < 248 && out.len() < count {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

impl ApiKey {
    pub fn generate() -> ApiKey {
        let body = format!("{PREFIX}{}", random_base62(RANDOM_LEN));
        let sum = checksum(&body);
        ApiKey(body + std::str::from_utf8(&sum).expect("base62 is ASCII"))
    }

    /// Accepts a well-formed key: right prefix, length, alphabet and checksum.
    pub fn parse(text: &str) -> Option<ApiKey> {
        if text.len() != KEY_LEN
            || !text.starts_with(PREFIX)
            || !text[PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (body, sum) = text.split_at(KEY_LEN - CHECKSUM_LEN);
        (checksum(body) == sum.as_bytes()).then(|| ApiKey(text.to_owned()))
    }

    pub fn hash(&self) -> KeyHash {
        // Into a buffer at once: `hex::encode` collects its digits one `char` at a time.
        let mut digits = [0u8; 64];
        hex::encode_to_slice(Sha256::digest(self.0.as_bytes()), &mut digits)
            .expect("64 hex digits for 32 bytes");
        KeyHash(std::str::from_utf8(&digits).expect("hex digits").to_owned())
    }

    /// What lists show: the prefix and the last four characters.
    pub fn hint(&self) -> String {
        format!("{PREFIX}…{}", &self.0[self.0.len() - 4..])
    }

    /// The secret itself, for the one response that returns it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_any_single_change_is_refused() {
        let key = ApiKey::generate();
        let text = key.expose().to_owned();
        assert_eq!(text.len(), KEY_LEN);
        assert!(ApiKey::parse(&text).is_some());
        assert!(ApiKey::parse(&text[..KEY_LEN - 1]).is_none(), "truncated");
        for i in PREFIX.len()..KEY_LEN {
            let mut bytes = text.clone().into_bytes();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(ApiKey::parse(&typo).is_none(), "typo at {i} accepted");
        }
    }

    #[test]
    fn debug_output_shows_only_the_hint() {
        let key = ApiKey::generate();
        let debug = format!("{key:?}");
        assert!(!debug.contains(key.expose()));
        assert!(debug.contains(&key.expose()[KEY_LEN - 4..]));
    }

    #[test]
    fn keys_differ_and_hashes_are_sha256_hex() {
        let (a, b) = (ApiKey::generate(), ApiKey::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash().0.len(), 64);
    }
}
