//! Work the server does in the background: webhook deliveries.

pub mod dispatch;
