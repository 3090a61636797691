//! Verify what a thinnest server signs with an account's signing secret
//! (`whsec_…`, shown on Settings > Webhooks and by `GET /webhooks/signing-secret`).
//!
//! Two schemes cover webhook deliveries:
//!
//! - [`verify_signature`]: the `X-ThinnestAI-Signature: sha256=<hex>` header, an
//!   HMAC-SHA256 of the raw body keyed by the secret string as shown. It says the body
//!   came from the server but not when: a captured delivery can be sent again.
//! - [`verify_standard`]: the Standard Webhooks headers (`webhook-id`,
//!   `webhook-timestamp`, `webhook-signature`), which sign the id and the time with the
//!   body. With a tolerance on the timestamp, a replayed delivery is refused. Prefer it.
//!
//! [`sign_hex`] also makes the `data-user-hash` of an embedded chat widget: the hex
//! HMAC-SHA256 of the user id, keyed by the secret string. A widget's `data-user-jwt`
//! is signed HS256 with [`standard_key`] instead.
//!
//! ```
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"id":"evt_1","type":"webhook.test"}"#;
//! let header = format!("sha256={}", thinnestai::sign_hex(secret, body));
//! assert!(thinnestai::verify_signature(body, &header, secret).is_ok());
//! assert!(thinnestai::verify_signature(b"{}", &header, secret).is_err());
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a signature was refused. It never holds the secret or the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// The header is missing its `sha256=` / `v1,` part, or is not hex / base64.
    Malformed,
    /// The secret is not `whsec_` and base64 (Standard Webhooks only).
    BadSecret,
    /// The timestamp is further from now than the tolerance allows.
    Stale,
    /// No signature matches.
    Mismatch,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "the signature header is malformed",
            VerifyError::BadSecret => "the secret is not whsec_ followed by base64",
            VerifyError::Stale => "the timestamp is outside the tolerance",
            VerifyError::Mismatch => "no signature matches",
        })
    }
}

impl std::error::Error for VerifyError {}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = mac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Lowercase hex HMAC-SHA256 of `message`, keyed by the UTF-8 bytes of `secret`
/// exactly as shown, `whsec_` included.
pub fn sign_hex(secret: &str, message: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[message]))
}

/// Checks `hex_hmac` (the part after `sha256=`, or a widget's `data-user-hash`)
/// against `message`, in constant time.
pub fn verify_hex(message: &[u8], hex_hmac: &str, secret: &str) -> Result<(), VerifyError> {
    let given = hex::decode(hex_hmac.trim()).map_err(|_| VerifyError::Malformed)?;
    let expected = hmac_sha256(secret.as_bytes(), &[message]);
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// Checks an `X-ThinnestAI-Signature` header (`sha256=<hex>`) against the raw body
/// bytes as received, in constant time.
pub fn verify_signature(body: &[u8], header: &str, secret: &str) -> Result<(), VerifyError> {
    let hex_hmac = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(VerifyError::Malformed)?;
    verify_hex(body, hex_hmac, secret)
}

/// The key of the Standard Webhooks scheme: the base64-decoded part after `whsec_`.
/// It is also the HS256 key of a chat widget's `data-user-jwt`, so that a user hash
/// (keyed by the secret string) can never double as a token's signature.
pub fn standard_key(secret: &str) -> Result<Vec<u8>, VerifyError> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).map_err(|_| VerifyError::BadSecret)
}

/// One `v1,<base64>` signature of the Standard Webhooks scheme for `id`, `timestamp`
/// (unix seconds) and `body`.
pub fn sign_standard(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, VerifyError> {
    let key = standard_key(secret)?;
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    Ok(format!("v1,{}", STANDARD.encode(mac)))
}

/// The Standard Webhooks headers of one delivery.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    /// `webhook-id`
    pub id: &'a str,
    /// `webhook-timestamp`, unix seconds.
    pub timestamp: &'a str,
    /// `webhook-signature`: one or more space-separated `v1,<base64>`.
    pub signature: &'a str,
}

/// Checks the Standard Webhooks headers against the raw body: the timestamp must be
/// within `tolerance_seconds` of `now` (unix seconds), and one of the signatures
/// must match, compared in constant time. During a secret's rotation the server
/// sends one signature per valid secret, so the receiver's copy of either verifies.
pub fn verify_standard(
    body: &[u8],
    headers: StandardHeaders<'_>,
    secret: &str,
    tolerance_seconds: i64,
    now: i64,
) -> Result<(), VerifyError> {
    let timestamp: i64 = headers
        .timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::Malformed)?;
    if now.abs_diff(timestamp) > tolerance_seconds.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    let expected = sign_standard(secret, headers.id, timestamp, body)?;
    let mut found = false;
    for candidate in headers.signature.split_whitespace() {
        found |= bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()));
    }
    if found {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_standard_webhooks_reference_vector_verifies() {
        // The example in the Standard Webhooks specification's test suite.
        let body = br#"{"test": 2432232314}"#;
        let headers = StandardHeaders {
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp: "1614265330",
            signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        };
        assert_eq!(
            verify_standard(body, headers, SECRET, 300, 1614265330),
            Ok(())
        );
        assert_eq!(
            verify_standard(body, headers, SECRET, 300, 1614265330 + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify_standard(b"{}", headers, SECRET, 300, 1614265330),
            Err(VerifyError::Mismatch)
        );
        let extreme = StandardHeaders {
            timestamp: "-9223372036854775808",
            ..headers
        };
        assert_eq!(
            verify_standard(body, extreme, SECRET, 300, i64::MAX),
            Err(VerifyError::Stale)
        );
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let body = b"{}";
        let other = sign_standard("whsec_AAAA", "evt_1", 10, body).unwrap_or_default();
        let mine = sign_standard(SECRET, "evt_1", 10, body).unwrap_or_default();
        let signature = format!("{other} {mine}");
        let headers = StandardHeaders {
            id: "evt_1",
            timestamp: "10",
            signature: &signature,
        };
        assert_eq!(verify_standard(body, headers, SECRET, 5, 12), Ok(()));
    }

    #[test]
    fn the_hex_scheme_keys_by_the_secret_string() {
        let body = b"hello";
        let header = format!("sha256={}", sign_hex(SECRET, body));
        assert_eq!(verify_signature(body, &header, SECRET), Ok(()));
        assert_eq!(
            verify_signature(body, &header, "whsec_other"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify_signature(body, "md5=abc", SECRET),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            verify_signature(body, "sha256=zz", SECRET),
            Err(VerifyError::Malformed)
        );
    }
}
