//! thinnest: the API and security layer for voice and chat agents.
//!
//! [`App::build`] makes the app from a [`Config`]; [`App::start`] binds the
//! HTTPS listener and the plain-HTTP guard and serves until shut down.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod domain;
pub mod email;
pub mod error;
pub mod gate;
pub mod guard;
pub mod identity;
pub mod layers;
pub mod net;
pub mod ratelimit;
pub mod responder;
pub mod sealed;
pub mod secrets;
pub mod services;
pub mod state;
pub mod store;
pub mod tls;
pub mod usage;
pub mod webhooks;
pub mod workers;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::extract::{DefaultBodyLimit, Request};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;

pub use config::Config;
use email::Mailer;
use guard::GuardState;
use ratelimit::Limiter;
pub use state::{AppState, Identity};
use store::Store;
use usage::UsageWriter;

pub struct App {
    state: AppState,
    tls: Arc<rustls::ServerConfig>,
    usage_writer: UsageWriter,
    key_feed: JoinHandle<()>,
}

/// A running server: its bound addresses and the means to stop it.
pub struct Running {
    pub https_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    handles: Vec<Handle<SocketAddr>>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    usage_writer: UsageWriter,
    /// Follows the key-change feed for this instance's key cache; at the end the
    /// instance leaves the feed.
    key_feed: JoinHandle<()>,
    keys: Arc<auth::cache::KeyCache>,
    /// Sends webhook deliveries; stopped at shutdown (leases let another instance,
    /// or the next start, finish what it had claimed).
    dispatcher: Option<JoinHandle<()>>,
}

/// What the HTTPS listener serves: the API and the dashboard, with the API's answers for
/// an unknown path or method applying to both.
fn routes(state: &AppState) -> Router {
    api::router(state.clone())
        .merge(dashboard::router(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
}

/// A route asked with a method it does not have: under `/app` a page, elsewhere JSON.
async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    if dashboard::owns(uri.path()) {
        dashboard::method_not_allowed()
    } else {
        api::method_not_allowed(method, uri).await
    }
}

/// A path nothing serves: under `/app`, the dashboard's page; elsewhere the API's answer.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    if dashboard::owns(uri.path()) {
        dashboard::not_found()
    } else {
        api::not_found(method, uri).await
    }
}

/// Every ten minutes, deletes sessions, links and records that can no longer be used,
/// so that nothing grows without bound.
fn start_purging(store: Store, idle_ms: i64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match store.purge_expired(domain::time::now_ms(), idle_ms).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!("purged {n} expired rows"),
                Err(e) => tracing::warn!(error = %e, "could not purge expired rows"),
            }
        }
    });
}

/// A listener's service, with each connection's peer address for [`axum::extract::ConnectInfo`].
fn with_peer_address<S>(service: S) -> IntoMakeServiceWithConnectInfo<S, SocketAddr>
where
    S: tower::Service<Request<hyper::body::Incoming>>,
{
    axum::ServiceExt::into_make_service_with_connect_info::<SocketAddr>(service)
}

fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))
}

impl App {
    /// Connects the store (running migrations) and loads or generates the TLS certificate.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        config.validate()?;
        let database_url = config.store.resolved_database_url()?;
        let store = Store::open(&database_url).await?;
        let tls = tls::server_config(&config)?;
        let limiter = Limiter::new(
            config.limits.redis_url.as_ref().map(|u| u.expose()),
            &config.limits.redis_prefix,
        )?;
        let (usage, usage_writer) = usage::start(store.clone());
        start_purging(
            store.clone(),
            i64::from(config.dashboard.session_idle_minutes) * 60_000,
        );
        let mailer = Mailer::new(
            config.dashboard.smtp_url.as_ref().map(|u| u.expose()),
            &config.dashboard.email_from,
            config.store.data_dir.join("outbox"),
        )?;
        let sealer = sealed::Sealer::load(
            config.encryption_key.as_ref().map(|k| k.expose()),
            &config.store.data_dir,
        )?;
        let engines = responder::Engines {
            builtin: responder::builtin::Builtin,
            openai: match &config.agents.llm_base_url {
                Some(base) => Some(responder::openai::OpenAi::new(
                    base,
                    config.agents.llm_api_key.clone(),
                )?),
                None => None,
            },
        };
        let identity = Identity {
            http: identity::Http::new()?,
            providers: identity::Providers::from_config(&config.identity)?,
        };
        // Last: it joins the key-change feed, which nothing may fail after.
        let (keys, key_feed) = auth::cache::KeyCache::start(store.clone(), &database_url).await?;
        Ok(App {
            state: AppState::new(state::Shared {
                store,
                limits: state::default_limits(&config.limits),
                link_base: Arc::default(),
                openapi: std::sync::OnceLock::new(),
                config: Arc::new(config),
                limiter: Arc::new(limiter),
                usage,
                mailer: Arc::new(mailer),
                identity: Arc::new(identity),
                sealer: Arc::new(sealer),
                engines: Arc::new(engines),
                passwords: Arc::new(auth::password::Hasher::per_core()),
                keys,
            }),
            tls,
            usage_writer,
            key_feed,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Binds both listeners and serves them in the background.
    pub fn start(self) -> anyhow::Result<Running> {
        let config = &self.state.config;
        let https_listener = bind(config.listen)?;
        let https_addr = https_listener.local_addr()?;
        let base = match config.public_base() {
            Some(base) => base.to_owned(),
            None if https_addr.ip().is_loopback() => {
                format!("https://localhost:{}", https_addr.port())
            }
            None => format!("https://{https_addr}"),
        };
        self.state.set_link_base(base);
        let guard_state = GuardState {
            app: self.state.clone(),
            https_port: https_addr.port(),
        };
        let mut handles = Vec::new();
        let mut tasks = Vec::new();

        // The body limit once around the router (a router's own layers wrap each route).
        let https_service = layers::around(
            ServiceBuilder::new()
                .layer(DefaultBodyLimit::max(1 << 20))
                .service(routes(&self.state)),
            &self.state,
            Some(guard_state.clone()),
        );
        let handle = Handle::new();
        let server =
            axum_server::from_tcp_rustls(https_listener, RustlsConfig::from_config(self.tls))?
                .handle(handle.clone());
        tasks.push(tokio::spawn(server.serve(with_peer_address(https_service))));
        handles.push(handle);

        let http_addr = match config.http_listen.0 {
            None => None,
            Some(addr) => {
                let listener = bind(addr)?;
                let addr = listener.local_addr()?;
                let service = layers::around(
                    Router::new()
                        .fallback(guard::plain_http)
                        .with_state(guard_state),
                    &self.state,
                    None,
                );
                let handle = Handle::new();
                let server = axum_server::from_tcp(listener)?.handle(handle.clone());
                tasks.push(tokio::spawn(server.serve(with_peer_address(service))));
                handles.push(handle);
                Some(addr)
            }
        };
        Ok(Running {
            https_addr,
            http_addr,
            handles,
            tasks,
            usage_writer: self.usage_writer,
            key_feed: self.key_feed,
            keys: self.state.keys.clone(),
            dispatcher: workers::dispatch::start(self.state.clone())?,
        })
    }
}

impl Running {
    /// Stops accepting connections and lets in-flight requests finish within `grace`.
    pub fn shutdown(&self, grace: Duration) {
        for handle in &self.handles {
            handle.graceful_shutdown(Some(grace));
        }
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.abort();
        }
    }

    /// Waits until every listener has stopped, then writes the pending usage counts and
    /// leaves the key-change feed.
    pub async fn wait(self) -> anyhow::Result<()> {
        let mut outcome = Ok(());
        for task in self.tasks {
            let ended = task.await.map_err(anyhow::Error::from).and_then(|r| Ok(r?));
            if outcome.is_ok() {
                outcome = ended;
            }
        }
        self.usage_writer.finish().await;
        self.key_feed.abort();
        let _ = self.key_feed.await;
        self.keys.leave().await;
        outcome
    }
}
