//! What every handler and worker can reach: the store, the limiter, the mailer and
//! the integrations, made once at start.

use std::sync::Arc;

use crate::config::{Config, LimitArgs};
use crate::domain::limits::Limits;
use crate::email::Mailer;
use crate::ratelimit::Limiter;
use crate::store::Store;
use crate::usage::UsageRecorder;
use crate::{auth, identity, responder, sealed};

/// The configured identity providers and the HTTP client that talks to them.
pub struct Identity {
    pub http: identity::Http,
    pub providers: identity::Providers,
}

/// What every handler can reach: one shared value, so that a clone (every middleware
/// and route takes one per request) is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Store,
    pub config: Arc<Config>,
    pub limiter: Arc<Limiter>,
    /// Default limits per class, before an account's overrides.
    pub limits: Limits,
    pub usage: UsageRecorder,
    pub mailer: Arc<Mailer>,
    /// Sign-in through Google, GitHub and other OpenID Connect providers.
    pub identity: Arc<Identity>,
    /// Seals the secrets the server must read back.
    pub sealer: Arc<sealed::Sealer>,
    /// How agents answer.
    pub engines: Arc<responder::Engines>,
    /// What presented keys verified as, kept true by the key-change feed.
    pub keys: Arc<auth::cache::KeyCache>,
    /// Argon2id, behind a bound on concurrent hashes.
    pub passwords: Arc<auth::password::Hasher>,
    /// Where emailed links point: `--public-url`, else this server's HTTPS address,
    /// known once the listener is bound.
    pub(crate) link_base: Arc<std::sync::OnceLock<String>>,
    /// The OpenAPI document, serialised once when the API's routes are built.
    pub(crate) openapi: std::sync::OnceLock<axum::body::Bytes>,
}

impl Shared {
    pub fn link_base(&self) -> &str {
        self.link_base.get().map_or("", String::as_str)
    }

    /// Sets where emailed links point, once the listener is bound.
    pub(crate) fn set_link_base(&self, base: String) {
        let _ = self.link_base.set(base);
    }
}

/// The limits per class that the configuration sets, before an account's overrides.
pub fn default_limits(args: &LimitArgs) -> Limits {
    Limits::new(
        args.limit_agent_crud,
        args.limit_conversation,
        args.limit_call_trigger,
        args.limit_knowledge_upload,
        args.limit_other,
    )
}
