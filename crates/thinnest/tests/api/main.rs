//! Integration tests: the real app over HTTPS, on SQLite, and on PostgreSQL when
//! `THINNEST_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod agents;
mod api_keys;
mod audit_log;
mod authentication;
mod billing;
mod browser;
mod client_addresses;
mod concurrent_patch;
mod conversations;
mod conversations_engines;
mod coverage;
mod dashboard;
mod dashboard_accounts;
mod dashboard_agents;
mod dashboard_headers;
mod dashboard_keys;
mod dashboard_usage;
mod deliveries;
mod deliveries_at_once;
mod deliveries_durable;
mod deliveries_outcomes;
mod errors;
mod https;
mod key_cache;
mod new_user;
mod rate_limits;
mod sign_in_floods;
mod sign_in_lockout;
mod social;
mod social_connections;
mod support;
mod team;
mod usage;
mod webhooks;
mod widget;
mod widget_defences;
mod widget_identity;
mod widget_pages;
mod widget_sessions;
