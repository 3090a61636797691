//! The key-change feed: a row per change to what an account's keys verify as, written
//! in the change's transaction, and the instances that keep caches of verified keys,
//! each with the last change it has applied.

use std::cell::Cell;
use std::future::Future;

use sqlx::AnyConnection;

use super::{Backend, Store, StoreResult};
use crate::domain::time::now_ms;

tokio::task_local! {
    /// Set in a task running [`noting_changes`] once it has noted a change.
    static NOTED: Cell<bool>;
}

/// Runs `work` and says whether it noted a change (committed or not: a failed commit
/// may still have applied it).
pub async fn noting_changes<F: Future>(work: F) -> (F::Output, bool) {
    NOTED
        .scope(Cell::new(false), async {
            let output = work.await;
            (output, NOTED.with(Cell::get))
        })
        .await
}

/// The PostgreSQL channel that wakes every instance when a change commits.
pub const CHANNEL: &str = "thinnest_key_changes";
/// Taken for the rest of the transaction before a change is numbered, so that changes
/// commit in the order of their numbers and a reader never skips one still in flight.
/// (SQLite has one writer at a time already.)
const NUMBERING_LOCK: i64 = 0x7468_696e_6b65_7973; // "thinkeys"

/// Records, in the caller's transaction, that the keys of `account_id` verify differently
/// from now on. On PostgreSQL the commit also wakes every listening instance. Call it
/// last before the commit: the lock it takes must be the transaction's last, or two
/// changes could each hold what the other waits for.
pub(crate) async fn note(conn: &mut AnyConnection, account_id: &str) -> StoreResult<()> {
    let _ = NOTED.try_with(|noted| noted.set(true));
    let postgres = conn.backend_name() == "PostgreSQL";
    if postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(NUMBERING_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "INSERT INTO key_changes (seq, account_id, at) \
         SELECT COALESCE(MAX(seq), 0) + 1, $1, $2 FROM key_changes",
    )
    .bind(account_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    if postgres {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The database's clock in unix milliseconds, as SQL.
macro_rules! db_now_ms {
    (sqlite) => {
        "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
    };
    (postgres) => {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    };
}

/// A change of the feed: its number and the account whose keys it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub seq: i64,
    pub account_id: String,
}

impl Store {
    /// The number of the latest change (0 before the first).
    pub async fn last_key_change(&self) -> StoreResult<i64> {
        let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM key_changes")
            .fetch_one(self.pool())
            .await?;
        Ok(seq)
    }

    /// Up to `limit` changes from `seq` on (that one included), oldest first.
    pub async fn key_changes_from(&self, seq: i64, limit: i64) -> StoreResult<Vec<KeyChange>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, account_id FROM key_changes WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, account_id)| KeyChange { seq, account_id })
            .collect())
    }

    /// Says that instance `id` has applied every change up to `seq`, now by the
    /// database's clock (the one clock every instance shares).
    pub async fn report_applied(&self, id: &str, seq: i64) -> StoreResult<()> {
        let sql = match self.backend {
            Backend::Sqlite => concat!(
                "INSERT INTO key_cache_instances (id, applied_seq, seen_at) VALUES ($1, $2, ",
                db_now_ms!(sqlite),
                ") ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq, \
                 seen_at = excluded.seen_at"
            ),
            Backend::Postgres => concat!(
                "INSERT INTO key_cache_instances (id, applied_seq, seen_at) VALUES ($1, $2, ",
                db_now_ms!(postgres),
                ") ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq, \
                 seen_at = excluded.seen_at"
            ),
        };
        sqlx::query(sql)
            .bind(id)
            .bind(seq)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// How many instances heard from in the last `within_ms` (by the database's clock)
    /// have not applied change `seq` yet.
    pub async fn instances_behind(&self, seq: i64, within_ms: i64) -> StoreResult<i64> {
        let sql = match self.backend {
            Backend::Sqlite => concat!(
                "SELECT COUNT(*) FROM key_cache_instances WHERE applied_seq < $1 AND seen_at > ",
                db_now_ms!(sqlite),
                " - $2"
            ),
            Backend::Postgres => concat!(
                "SELECT COUNT(*) FROM key_cache_instances WHERE applied_seq < $1 AND seen_at > ",
                db_now_ms!(postgres),
                " - $2"
            ),
        };
        let (n,): (i64,) = sqlx::query_as(sql)
            .bind(seq)
            .bind(within_ms)
            .fetch_one(self.pool())
            .await?;
        Ok(n)
    }

    /// Removes a stopping instance, so that no change waits for it.
    pub async fn forget_instance(&self, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM key_cache_instances WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// Wake-ups from PostgreSQL when a change commits.
pub struct KeyChangeSignals(sqlx::postgres::PgListener);

impl KeyChangeSignals {
    /// Returns at the next wake-up; an error when the connection was lost (the next call
    /// reconnects, and wake-ups sent meanwhile are lost: the reader polls besides).
    pub async fn next(&mut self) -> StoreResult<()> {
        self.0.recv().await?;
        Ok(())
    }
}

impl Store {
    /// On PostgreSQL, a listener for change wake-ups (on its own connection, named
    /// `thinnest-key-feed`); on SQLite, or if it cannot connect, none: the reader polls.
    pub async fn key_change_signals(&self, database_url: &str) -> Option<KeyChangeSignals> {
        if self.backend != Backend::Postgres {
            return None;
        }
        let listen = async {
            let options: sqlx::postgres::PgConnectOptions = database_url.parse()?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options.application_name("thinnest-key-feed"));
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listen.await {
            Ok(listener) => Some(KeyChangeSignals(listener)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for key changes: polling only");
                None
            }
        }
    }
}
