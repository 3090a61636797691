//! Peers the server calls, as separate processes: webhook receivers written the way a
//! user would write one (Python's standard library, Node's `crypto`, PyPI's
//! `standardwebhooks`) and a fake OpenAI-compatible server. Each prints
//! `listening <port>`, then one JSON line per request it got.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct Receiver {
    pub port: u16,
    lines: Arc<Mutex<Vec<Value>>>,
    _process: Child,
}

/// Which receiver to run.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `tests/receivers/receiver.py`: stdlib `hmac` over the hex header; can fail on request.
    PythonStdlib,
    /// `tests/node/receiver.mjs`: Node `crypto` over the hex header.
    Node,
    /// `tests/receivers/standard_receiver.py`: the `standardwebhooks` library.
    StandardWebhooks,
    /// `tests/receivers/fake_llm.py`: an OpenAI-compatible chat completions server.
    FakeLlm,
}

impl Receiver {
    /// Starts a receiver that verifies with `secret`; `None` if its runtime is missing.
    pub async fn start(kind: Kind, secret: &str) -> Option<Receiver> {
        let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
        let (program, script) = match kind {
            Kind::PythonStdlib => ("python3", tests.join("receivers/receiver.py")),
            Kind::StandardWebhooks => {
                if !super::runs("python3", &["-c", "import standardwebhooks"]).await {
                    super::missing_peer("standardwebhooks (pip install standardwebhooks)");
                    return None;
                }
                ("python3", tests.join("receivers/standard_receiver.py"))
            }
            Kind::Node => ("node", tests.join("node/receiver.mjs")),
            Kind::FakeLlm => ("python3", tests.join("receivers/fake_llm.py")),
        };
        if !super::installed(program).await {
            return None;
        }
        let mut process = Command::new(program)
            .arg(script)
            .env("WEBHOOK_SECRET", secret)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start a receiver");
        let mut out = BufReader::new(process.stdout.take().expect("stdout")).lines();
        let first = out
            .next_line()
            .await
            .expect("read")
            .expect("receiver output");
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected receiver output: {first}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let value = serde_json::from_str(&line).expect("a JSON line");
                sink.lock().expect("lock").push(value);
            }
        });
        Some(Receiver {
            port,
            lines,
            _process: process,
        })
    }

    /// The URL of `path` (with any query) on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Value> {
        self.lines.lock().expect("lock").clone()
    }

    /// Waits until `done` holds for what was received, or panics after `within`.
    pub async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver did not get what was expected in {within:?}; it got {got:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for at least `n` requests.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Value> {
        self.wait_until(within, |got| got.len() >= n).await
    }
}
