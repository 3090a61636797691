//! The store: one behaviour on SQLite (default) and PostgreSQL (many instances).
//!
//! Queries go through sqlx's `Any` driver with one SQL text for both databases
//! (`$1` placeholders work on both); each capability has its own module whose
//! functions take the account id first.

pub mod accounts;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod conversations;
pub mod deliveries;
pub mod embed;
pub mod identities;
pub mod key_changes;
pub mod keys_made;
pub mod knowledge;
pub mod outbox;
pub mod security_events;
pub mod teams;
pub mod usage;
pub mod users;
pub mod webhooks;
pub mod widget_sessions;

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored value the product cannot read back (settings of another version, a
    /// damaged row) or cannot write (a value that does not serialise).
    #[error("unreadable stored data: {0}")]
    Unreadable(String),
}

/// The answer of a store function.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Wakes this instance's webhook dispatcher when a change queued an event.
    outbox: std::sync::Arc<tokio::sync::Notify>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL: expected sqlite://… or postgres://…");
        };
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 8 } else { 16 })
            // A ping before every use buys nothing for a local file and costs a round
            // trip to SQLite's worker thread per query; PostgreSQL keeps it, to replace
            // connections the server dropped before they fail a request.
            .test_before_acquire(!sqlite)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("cannot connect to the database")?;
        if sqlite {
            // WAL lets readers run beside the writer and the bootstrap command
            // write while a server runs; the setting is kept in the file.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot migrate the database")?;
        Ok(Store {
            pool,
            backend,
            outbox: std::sync::Arc::default(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that reads before it writes. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`, waiting its turn): a deferred one would read from a
    /// snapshot that another writer may outdate, and could then not write at all.
    pub async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => Ok(self.pool.begin().await?),
        }
    }

    /// True when the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
