//! The real app on port 0, spoken to over HTTPS, on SQLite or, when
//! `THINNEST_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database per test.

pub mod browser;
pub mod db;
pub mod identity;
pub mod process;
pub mod receiver;
pub mod smtp;

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use thinnest::store::Store;
use thinnest::{App, Config, Running};

pub use db::TestDb;

/// Parses `thinnest serve` flags, exactly as the binary does.
#[derive(Parser)]
struct ServeFlags {
    #[command(flatten)]
    config: Config,
}

/// A test peer (a browser, an SMTP server, an identity provider) is not installed:
/// the test is skipped, unless `THINNEST_REQUIRE_PEERS=1` (as in `.ci/run`) makes
/// that a failure.
pub fn missing_peer(what: &str) {
    let required = std::env::var("THINNEST_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    assert!(!required, "{what} is missing, and THINNEST_REQUIRE_PEERS=1");
    eprintln!("{what} is missing (.ci/run installs it): test skipped");
}

/// True when the command runs and succeeds.
pub async fn runs(program: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// True when `program` is installed; otherwise the test is skipped (see [`missing_peer`]).
pub async fn installed(program: &str) -> bool {
    let there = runs(program, &["--version"]).await;
    if !there {
        missing_peer(program);
    }
    there
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The servers' warnings go with the output of the test that ran them, which is
    // shown when that test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
}

/// A reqwest client that trusts only the given CA and never follows redirects.
pub fn client_trusting(ca_pem: &[u8]) -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).expect("CA PEM")])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A principal: an account and a key in it.
#[derive(Clone)]
pub struct Principal {
    pub account_id: String,
    pub key_id: String,
    pub key: String,
}

pub struct TestApp {
    pub https: String,
    pub http: String,
    pub https_addr: SocketAddr,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    pub db: TestDb,
    pub store: Store,
    running: Running,
    extra: Vec<String>,
    redis_prefix: String,
}

/// The Redis the tests share rate limits through, if any.
pub fn redis_url() -> Option<String> {
    std::env::var("THINNEST_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::with_flags(&[]).await
    }

    /// An app on a fresh database with extra `serve` flags.
    pub async fn with_flags(flags: &[&str]) -> TestApp {
        TestApp::spawn_with(TestDb::new().await, flags).await
    }

    /// An app on `db` with extra `serve` flags. When `THINNEST_TEST_REDIS_URL` is set,
    /// rate limits live in that Redis under a prefix of this app's own.
    pub async fn spawn_with(db: TestDb, extra: &[&str]) -> TestApp {
        let prefix = format!("thinnest-test-{}", uuid::Uuid::new_v4().simple());
        TestApp::start(db, extra, &prefix).await
    }

    async fn start(db: TestDb, extra: &[&str], redis_prefix: &str) -> TestApp {
        install_crypto();
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut args = vec![
            "serve".to_owned(),
            "--data-dir".to_owned(),
            data_dir.path().display().to_string(),
            "--database-url".to_owned(),
            db.url.clone(),
            "--http-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ];
        if !extra.contains(&"--listen") {
            args.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
        }
        if let Some(redis) = redis_url().filter(|_| !extra.contains(&"--redis-url")) {
            args.extend([
                "--redis-url".to_owned(),
                redis,
                "--redis-prefix".to_owned(),
                redis_prefix.to_owned(),
            ]);
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let config = ServeFlags::try_parse_from(args).expect("flags").config;
        let app = App::build(config).await.expect("app builds");
        let store = app.state().store.clone();
        let running = app.start().expect("app starts");
        let ca = std::fs::read(data_dir.path().join("tls/ca.pem")).expect("generated CA");
        TestApp {
            https: format!("https://localhost:{}", running.https_addr.port()),
            http: format!(
                "http://127.0.0.1:{}",
                running.http_addr.expect("http guard").port()
            ),
            https_addr: running.https_addr,
            client: client_trusting(&ca),
            data_dir,
            db,
            store,
            running,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            redis_prefix: redis_prefix.to_owned(),
        }
    }

    /// A second instance sharing this one's database, flags and Redis budgets.
    pub async fn second_instance(&self) -> TestApp {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        TestApp::start(self.db.shared(), &extra, &self.redis_prefix).await
    }

    /// Stops gracefully; the database lives on as long as the returned value.
    pub async fn stop(self) -> TestDb {
        self.running.shutdown(Duration::from_secs(5));
        self.running.wait().await.expect("clean stop");
        self.db
    }

    /// A new account with an Admin key, as `thinnest bootstrap` makes it.
    pub async fn account(&self, email: &str) -> Principal {
        let made = thinnest::services::bootstrap::bootstrap(&self.store, email, "Default")
            .await
            .expect("bootstrap");
        Principal {
            account_id: made.account_id,
            key_id: made.key_id,
            key: made.key.expose().to_owned(),
        }
    }

    /// A key with `role` created through the API by `by`.
    pub async fn key_with_role(&self, by: &Principal, role: &str) -> Principal {
        let (status, body) = self
            .call(
                Method::POST,
                "/api-keys",
                &by.key,
                Some(json!({"name": role, "role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Principal {
            account_id: by.account_id.clone(),
            key_id: body["id"].as_str().expect("id").to_owned(),
            key: body["key"].as_str().expect("key").to_owned(),
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.https))
    }

    /// A request to the plain-HTTP listener.
    pub fn plain(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.http))
    }

    /// An authenticated JSON call; returns the status and the parsed body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, key, Some(body)).await
    }

    /// `thinnest limits set` for this app's database, as an operator runs it.
    pub async fn set_limit(&self, account: &Principal, class: &str, per_minute: u32) -> String {
        let n = per_minute.to_string();
        let args = [
            "--account",
            account.account_id.as_str(),
            "--class",
            class,
            "--per-minute",
            &n,
        ];
        process::run(
            &["limits", "set"],
            self.data_dir.path(),
            &self.db.url,
            &args,
        )
        .await
    }

    /// Creates an agent and returns its id.
    pub async fn agent(&self, by: &Principal, name: &str) -> String {
        let (status, body) = self.post("/agents", &by.key, json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }
}

/// Sends a request; returns the status and the JSON body.
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    read(request.send().await.expect("request")).await
}

/// Status and JSON body of a response; asserts that any body is JSON.
pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    if text.is_empty() {
        return (status, Value::Null);
    }
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status}: body is not JSON: {text}"));
    (status, value)
}

/// Asserts that none of `secrets` occurs anywhere in `stored`.
pub fn assert_not_stored(stored: &[u8], secrets: &[&str]) {
    assert!(!stored.is_empty(), "nothing was read");
    for secret in secrets {
        let needle = secret.as_bytes();
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "a plaintext key is stored"
        );
    }
}

/// Asserts an error envelope with this status and code.
/// The actions of an audit-log page, newest first.
pub fn audit_actions(log: &Value) -> Vec<&str> {
    log["data"]
        .as_array()
        .expect("audit entries")
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect()
}

pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| m.len() > 10),
        "a clear message: {}",
        got.1
    );
}
