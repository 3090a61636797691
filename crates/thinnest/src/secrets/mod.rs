//! The secrets the server hands out and keeps only as hashes: API keys, and the
//! tokens of sessions and emailed links.

pub mod api_key;
pub mod signing;
pub mod token;
