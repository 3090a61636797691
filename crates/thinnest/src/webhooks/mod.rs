//! Webhooks as the server sends them: the HTTP client that delivers, and the rules
//! for where it may deliver to.
//!
//! Deliveries are signed two ways: `X-ThinnestAI-Signature: sha256=<hex HMAC-SHA256>`
//! keyed by the secret string exactly as shown (`whsec_` included), and the Standard
//! Webhooks headers keyed by the base64-decoded part after `whsec_`.

pub mod client;
pub mod target;
