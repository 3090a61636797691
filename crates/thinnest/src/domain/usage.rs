//! Usage: counts per key, rate-limit class, outcome and hour.

/// A count to add.
#[derive(Debug)]
pub struct NewCount {
    pub account_id: String,
    pub key_id: String,
    pub class: &'static str,
    pub outcome: &'static str,
    pub hour: i64,
    pub count: i64,
}

/// A key's latest authenticated request.
#[derive(Debug)]
pub struct LastUse {
    pub key_id: String,
    pub at: i64,
    pub client_ip: String,
}

/// A stored count.
#[derive(Debug)]
pub struct Count {
    pub api_key_id: String,
    pub class: String,
    pub outcome: String,
    pub hour: i64,
    pub count: i64,
}
