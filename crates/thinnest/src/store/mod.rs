//! The store: one behaviour on SQLite (default) and PostgreSQL (many instances).
//!
//! Queries go through sqlx's `Any` driver with one SQL text for both databases
//! (`$1` placeholders work on both); each capability has its own module whose
//! functions take the account id first. Small reads on the request path run in place
//! on SQLite ([`reads`]).

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
mod reads;
pub mod security_events;
pub mod teams;
pub mod usage;
pub mod users;
pub mod webhooks;
pub mod widget_sessions;

use std::time::Duration;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// SQLite failed or refused a read run in place.
    #[error(transparent)]
    Read(#[from] rusqlite::Error),
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
    /// SQLite's read connections for small reads (none on PostgreSQL or in memory).
    readers: Option<std::sync::Arc<reads::Readers>>,
    /// Wakes this instance's webhook dispatcher when a change queued an event.
    outbox: std::sync::Arc<tokio::sync::Notify>,
}

/// A pooled connection idle this long is pinged before it is used again.
const PING_IDLE_AFTER: Duration = Duration::from_secs(5);

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
            // A ping before every use would cost a round trip per query. A local file
            // needs none; a PostgreSQL connection that sat idle for a while is pinged,
            // so that one the server dropped meanwhile is replaced before it fails a
            // request.
            .test_before_acquire(false)
            .before_acquire(move |connection, meta| {
                Box::pin(async move {
                    if sqlite || meta.idle_for < PING_IDLE_AFTER {
                        return Ok(true);
                    }
                    sqlx::Connection::ping(connection).await.map(|()| true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .context("cannot connect to the database")?;
        let mut wal = false;
        if sqlite {
            // WAL lets readers run beside the writer and the bootstrap command
            // write while a server runs; the setting is kept in the file.
            let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode = WAL")
                .fetch_one(&pool)
                .await?;
            wal = mode.eq_ignore_ascii_case("wal");
        }
        MIGRATOR
            .run(&pool)
            .await
            .context("cannot migrate the database")?;
        // Reads in place need WAL, which lets them run beside the writer.
        let readers = match wal {
            true => reads::Readers::for_url(url)
                .context("cannot open the database for reading")?
                .map(std::sync::Arc::new),
            false => None,
        };
        Ok(Store {
            pool,
            backend,
            readers,
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
