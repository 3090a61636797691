//! Hot reads on SQLite, run in place.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each query and
//! each row across threads: measured on `GET /agents` with ten agents, that cost about
//! 150 µs of the 184 µs the request took, while SQLite itself reads the ten rows in a
//! few microseconds. So for small reads on the request path (bounded by a key or a
//! `LIMIT`, answered from an index) the store keeps read-only connections of its own,
//! one per thread that can run a request, and runs the query on the calling thread.
//! In WAL mode a reader never waits for the writer, and each read sees every
//! transaction committed before it started: a write answered 2xx is read back by the
//! next request. Writes, and reads that can grow large, stay on sqlx. On PostgreSQL,
//! and on an in-memory database, every read goes through sqlx.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use sqlx::ConnectOptions;
use sqlx::any::AnyRow;

use super::{Store, StoreResult};

/// A row both drivers can read.
pub trait ReadRow: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// The placeholders a read may use (all text values), in order.
const PLACEHOLDERS: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];

/// How long a read waits for a lock SQLite holds (a reader only meets one while a
/// crashed writer's journal is recovered); past it, the read goes through sqlx.
const BUSY_WAIT: Duration = Duration::from_millis(20);

/// The read-only connections of one SQLite database.
pub(super) struct Readers {
    connections: Box<[Mutex<Connection>]>,
    next: AtomicUsize,
}

impl Readers {
    /// Connections to the database of the sqlx URL `url` (already migrated), or `None`
    /// for one that only sqlx's own connections can see (in memory) or that needs
    /// sqlx's own file settings (another VFS, an immutable file).
    pub(super) fn for_url(url: &str) -> anyhow::Result<Option<Readers>> {
        // Parsed as sqlx parses it, so that both name the same file.
        let url = url::Url::parse(url)?;
        let special = url.query_pairs().any(|(name, value)| {
            (name == "mode" && value == "memory") || name == "vfs" || name == "immutable"
        });
        if special {
            return Ok(None);
        }
        let options = sqlx::sqlite::SqliteConnectOptions::from_url(&url)?;
        Readers::open(options.get_filename())
    }

    /// Connections to the database file `path`, or `None` for a database in memory.
    fn open(path: &Path) -> anyhow::Result<Option<Readers>> {
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            return Ok(None);
        }
        // Threads that may run a request at once: the runtime's workers and the
        // blocking threads a command line uses; one more spares the fallback lock.
        let threads = std::thread::available_parallelism().map_or(2, usize::from) + 2;
        let connections = (0..threads)
            .map(|_| {
                let connection = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                connection.pragma_update(None, "query_only", true)?;
                connection.busy_timeout(BUSY_WAIT)?;
                connection.set_prepared_statement_cache_capacity(PREPARED);
                Ok(Mutex::new(connection))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(Some(Readers {
            connections,
            next: AtomicUsize::new(0),
        }))
    }

    /// Runs `read` on a free connection (or, when every one is in use, waits for one).
    fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let n = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(connection) = self.connections[(start + i) % n].try_lock() {
                return read(&connection);
            }
        }
        let connection = self.connections[start % n]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        read(&connection)
    }

    fn all<R: ReadRow>(&self, sql: &str, args: &[&str]) -> rusqlite::Result<Vec<R>> {
        self.with(|connection| {
            let mut statement = connection.prepare_cached(sql)?;
            if args.len() != statement.parameter_count() || args.len() > PLACEHOLDERS.len() {
                return Err(rusqlite::Error::InvalidParameterCount(
                    args.len(),
                    statement.parameter_count(),
                ));
            }
            // By number, as sqlx binds them: SQLite numbers `$n` in their order of first
            // use, which need not be n.
            for (arg, name) in args.iter().zip(PLACEHOLDERS) {
                let at = statement
                    .parameter_index(name)?
                    .ok_or(rusqlite::Error::InvalidParameterName(name.to_owned()))?;
                statement.raw_bind_parameter(at, arg)?;
            }
            let mut rows = statement.raw_query();
            let mut read = Vec::new();
            while let Some(row) = rows.next()? {
                read.push(R::from_sqlite(row)?);
            }
            Ok(read)
        })
    }
}

/// `sql` with its `LIMIT` written in. A limit bound as a parameter makes SQLite (built
/// with `STAT4`) prepare the statement again on every run, which cost more than the
/// rest of the read; written in, each page size is prepared once and cached.
fn with_limit(sql: &str, limit: i64) -> String {
    format!("{sql} LIMIT {limit}")
}

/// Statements each read connection keeps prepared: every hot read, at a few page sizes.
const PREPARED: usize = 64;

impl Store {
    /// The rows `sql` selects: a small read on the request path (see the module).
    pub(super) async fn read_all<R: ReadRow>(
        &self,
        sql: &str,
        args: &[&str],
    ) -> StoreResult<Vec<R>> {
        if let Some(readers) = &self.readers {
            match readers.all(sql, args) {
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {}
                read => return Ok(read?),
            }
        }
        let mut query = sqlx::query_as::<_, R>(sqlx::AssertSqlSafe(sql));
        for arg in args {
            query = query.bind(*arg);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    /// At most `limit` rows of those `sql` (without a `LIMIT`) selects.
    pub(super) async fn read_page<R: ReadRow>(
        &self,
        sql: &'static str,
        args: &[&str],
        limit: i64,
    ) -> StoreResult<Vec<R>> {
        self.read_all(&with_limit(sql, limit), args).await
    }

    /// The row `sql` selects by a unique key, if there is one.
    pub(super) async fn read_one<R: ReadRow>(
        &self,
        sql: &'static str,
        args: &[&str],
    ) -> StoreResult<Option<R>> {
        Ok(self.read_all(sql, args).await?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::agents::{NewAgent, Voice};

    fn named(name: &str) -> NewAgent {
        NewAgent {
            name: name.to_owned(),
            description: String::new(),
            instructions: String::new(),
            first_message: String::new(),
            model: "builtin".into(),
            voice: Voice::default(),
        }
    }

    async fn store_in(dir: &Path) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        Store::open(&url).await.expect("open")
    }

    #[tokio::test]
    async fn a_write_through_sqlx_is_read_back_in_place_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        assert!(store.readers.is_some());
        let user = store
            .user_by_email_or_create("a@example.com")
            .await
            .unwrap();
        let account = &store.create_account("A", &user).await.unwrap();
        let other_user = store
            .user_by_email_or_create("b@example.com")
            .await
            .unwrap();
        let other = store.create_account("B", &other_user).await.unwrap();
        for i in 0..20 {
            let agent = store
                .insert_agent(account, &named(&format!("agent {i}")))
                .await
                .unwrap();
            let listed = store.list_agents(account, None, 100).await.unwrap();
            assert_eq!(listed.len(), i + 1);
            assert_eq!(listed[0].id, agent.id);
            let found = store.get_agent(account, &agent.id).await.unwrap();
            assert_eq!(found.map(|a| a.name), Some(format!("agent {i}")));
        }
        assert!(
            store
                .list_agents(&other, None, 100)
                .await
                .unwrap()
                .is_empty()
        );
        let page = store.list_agents(account, None, 5).await.unwrap();
        let next = store
            .list_agents(account, Some(&page[4].id), 100)
            .await
            .unwrap();
        assert_eq!((page.len(), next.len()), (5, 15));
    }

    #[tokio::test]
    async fn a_page_is_prepared_once_whatever_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        let sql =
            "SELECT id FROM agents WHERE account_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC";
        let readers = store.readers.as_ref().unwrap();
        for before in ["", "agent_9", "agent_5", ""] {
            let args = ["acct_1", before];
            let rows: Vec<String> = readers
                .with(|c| {
                    let mut statement = c.prepare_cached(&with_limit(sql, 20))?;
                    let rows =
                        statement.query_map(rusqlite::params_from_iter(&args), |r| r.get(0))?;
                    rows.collect()
                })
                .unwrap();
            assert!(rows.is_empty());
        }
        let reprepared = readers.with(|c| {
            let statement = c.prepare_cached(&with_limit(sql, 20))?;
            Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
        });
        assert_eq!(reprepared.unwrap(), 0);
        // A limit bound as a parameter is what prepares it again on every run.
        let bound = readers.with(|c| {
            for _ in 0..3 {
                let mut statement = c.prepare_cached(&format!("{sql} LIMIT $3"))?;
                statement
                    .query(rusqlite::params!["acct_1", "", 20])?
                    .next()?;
            }
            let statement = c.prepare_cached(&format!("{sql} LIMIT $3"))?;
            Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
        });
        assert!(bound.unwrap() > 0);
    }

    #[tokio::test]
    async fn the_read_connections_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        let readers = store.readers.as_ref().unwrap();
        let written = readers.with(|c| c.execute("DELETE FROM agents", []));
        assert!(written.is_err());
    }

    #[test]
    fn a_database_in_memory_or_with_its_own_file_settings_has_no_read_connections() {
        for url in [
            "sqlite::memory:",
            "sqlite://x.db?mode=memory",
            "sqlite://x.db?vfs=unix-dotfile",
            "sqlite://x.db?immutable=true",
        ] {
            assert!(Readers::for_url(url).unwrap().is_none(), "{url}");
        }
    }

    #[tokio::test]
    async fn the_read_connections_open_the_file_sqlx_writes() {
        let dir = tempfile::tempdir().unwrap();
        // `..` resolved as sqlx resolves it (`sub` does not exist): both must name the
        // same file.
        let url = format!("sqlite://{}/sub/../t.db?mode=rwc", dir.path().display());
        let store = Store::open(&url).await.expect("open");
        let user = store
            .user_by_email_or_create("a@example.com")
            .await
            .unwrap();
        let account = store.create_account("A", &user).await.unwrap();
        let agent = store.insert_agent(&account, &named("one")).await.unwrap();
        let found = store.get_agent(&account, &agent.id).await.unwrap();
        assert_eq!(found.map(|a| a.id), Some(agent.id));
    }

    #[tokio::test]
    async fn placeholders_bind_by_their_number_whatever_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path()).await;
        let readers = store.readers.as_ref().unwrap();
        let rows: Vec<(String,)> = readers
            .all("SELECT $2 || '-' || $1", &["one", "two"])
            .unwrap();
        assert_eq!(rows, vec![("two-one".to_owned(),)]);
        let wrong = readers.all::<(String,)>("SELECT $1 || $2", &["one"]);
        assert!(wrong.is_err());
    }

    impl ReadRow for (String,) {
        fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String,)> {
            Ok((row.get(0)?,))
        }
    }
}
