//! One database per test: a SQLite file, or a new PostgreSQL database when
//! `THINNEST_TEST_DATABASE_URL` points at a server.

use sqlx::{Connection, Executor};
use tempfile::TempDir;

pub struct TestDb {
    pub url: String,
    /// The SQLite file's directory, kept alive as long as the database is used.
    dir: Option<std::sync::Arc<TempDir>>,
    /// The server URL and name of a PostgreSQL database this value created and drops.
    created: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        sqlx::any::install_default_drivers();
        match std::env::var("THINNEST_TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let name = format!("thinnest_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::AnyConnection::connect(&base)
                    .await
                    .expect("connect to THINNEST_TEST_DATABASE_URL");
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .expect("create test database");
                let (prefix, _) = base.rsplit_once('/').expect("database URL with a path");
                TestDb {
                    url: format!("{prefix}/{name}"),
                    dir: None,
                    created: Some((base, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("tempdir");
                TestDb {
                    url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                    dir: Some(std::sync::Arc::new(dir)),
                    created: None,
                }
            }
        }
    }

    /// The same database, for a second instance.
    pub fn shared(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            dir: self.dir.clone(),
            created: None,
        }
    }

    /// Runs one statement, as an operator with a database shell would.
    pub async fn execute(&self, sql: &str) {
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect");
        conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .expect("statement");
    }

    /// How many rows a table holds.
    pub async fn count(&self, table: &str) -> i64 {
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect");
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .expect("count");
        n
    }

    /// Every byte the database holds: the SQLite files, or every PostgreSQL row as text.
    pub async fn dump(&self) -> Vec<u8> {
        if let Some(dir) = &self.dir {
            return crate::support::process::read_tree(dir.path());
        }
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .expect("connect");
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("tables");
        let mut out = Vec::new();
        for (table,) in tables {
            let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(row_to_json(t) AS TEXT) FROM \"{table}\" t"
            )))
            .fetch_all(&mut conn)
            .await
            .expect("rows");
            for (row,) in rows {
                out.extend_from_slice(row.as_bytes());
            }
        }
        out
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL database this value created, closing what still uses it.
    fn drop(&mut self) {
        let Some((base, name)) = self.created.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let mut admin = sqlx::AnyConnection::connect(&base).await.ok()?;
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                admin.execute(sqlx::AssertSqlSafe(drop)).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop test database {}", self.url);
        }
    }
}
