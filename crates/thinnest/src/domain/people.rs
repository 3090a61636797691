//! People as the product knows them: their email addresses.

/// Text that cannot be an email address.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an email address")]
pub struct NotAnEmail(String);

/// The longest address (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;

/// Lower-cased and trimmed; rejects text that cannot be an address.
pub fn normalise_email(email: &str) -> Result<String, NotAnEmail> {
    let email = email.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !email.contains(|c: char| c.is_whitespace() || c.is_control()) =>
        {
            Ok(email)
        }
        _ => Err(NotAnEmail(email)),
    }
}
