//! The product's own types and pure rules: ids, time, roles and permissions, agents,
//! API keys and their security events, actors, the audit log, the event catalogue,
//! embed settings, conversations, webhook endpoints and their deliveries, people and
//! their sessions, teams, linked identities, usage counts and field checks. Nothing
//! here knows HTTP, SQL or the app's state; every
//! other floor builds on it (see `docs/architecture.md`).

pub mod actors;
pub mod agents;
pub mod audit;
pub mod billing;
pub mod conversations;
pub mod deliveries;
pub mod embed;
pub mod events;
pub mod fields;
pub mod identities;
pub mod ids;
pub mod keys;
pub mod knowledge;
pub mod limits;
pub mod people;
pub mod roles;
pub mod team;
pub mod time;
pub mod usage;
pub mod webhooks;
pub mod widget;
