//! The `thinnest` binary run as a user would run it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_thinnest");

/// Every byte of every file below `dir`.
pub fn read_tree(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(read_tree(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

pub struct ServerProcess {
    child: Child,
    pub https_port: u16,
    pub http_port: u16,
}

/// The port of the address that follows `marker` in a log line.
fn port_after(line: &str, marker: &str) -> Option<u16> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let addr = rest.split_whitespace().next()?.trim_end_matches(':');
    addr.parse::<std::net::SocketAddr>().ok().map(|a| a.port())
}

impl ServerProcess {
    /// `thinnest serve` on ports chosen by the OS, with its data in `data_dir`.
    /// Ports are flags; the data directory and database are `THINNEST_*`
    /// variables, so both ways of configuring are exercised.
    pub async fn start(data_dir: &Path, database_url: &str) -> ServerProcess {
        ServerProcess::start_with_env(data_dir, database_url, &[]).await
    }

    /// As [`ServerProcess::start`], with more `THINNEST_*` variables.
    pub async fn start_with_env(
        data_dir: &Path,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .env("THINNEST_DATA_DIR", data_dir)
            .env("THINNEST_DATABASE_URL", database_url)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn thinnest serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let (mut https_port, mut http_port) = (None, None);
        while https_port.is_none() || http_port.is_none() {
            let line = lines
                .next_line()
                .await
                .expect("read log")
                .expect("the server exited before listening");
            https_port = https_port.or_else(|| port_after(&line, "HTTPS listening on https://"));
            http_port = http_port.or_else(|| port_after(&line, "plain-HTTP guard on http://"));
        }
        // Keep draining the log so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess {
            child,
            https_port: https_port.unwrap_or_default(),
            http_port: http_port.unwrap_or_default(),
        }
    }

    /// Kills the process at once (SIGKILL), as a crash or `kill -9` would.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// Sends SIGTERM.
    pub async fn signal_terminate(&self) {
        let pid = self.child.id().expect("pid").to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill");
        assert!(sent.success());
    }

    /// Waits for the process to end and returns its exit code.
    pub async fn exit_code(mut self) -> Option<i32> {
        self.child.wait().await.expect("wait").code()
    }

    /// Sends SIGTERM and returns the exit code.
    pub async fn terminate(self) -> Option<i32> {
        self.signal_terminate().await;
        self.exit_code().await
    }
}

/// Runs `thinnest <command> --data-dir … --database-url … <args>` and returns its stdout.
pub async fn run(command: &[&str], data_dir: &Path, database_url: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(command)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(database_url)
        .args(args)
        .output()
        .await
        .expect("run thinnest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Runs `thinnest bootstrap` and returns its stdout.
pub async fn bootstrap(data_dir: &Path, database_url: &str, args: &[&str]) -> String {
    run(&["bootstrap"], data_dir, database_url, args).await
}

/// The generated CA users trust, in a data directory.
pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("ca.pem")
}
