//! A real local OAuth 2 / OpenID Connect provider process (`tests/node/identity_provider.mjs`,
//! built on npm's oauth2-mock-server) with a GitHub-style API beside it.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::missing_peer;

pub const CLIENT_ID: &str = "thinnest-test-client";
const CLIENT_SECRET: &str = "thinnest-test-secret";

pub struct IdentityProvider {
    pub issuer: String,
    pub api: String,
    _process: Child,
}

impl IdentityProvider {
    /// Starts the provider, or returns `None` when its npm packages are missing.
    pub async fn start() -> Option<IdentityProvider> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
        if !dir.join("node_modules/oauth2-mock-server").exists() {
            missing_peer("oauth2-mock-server (npm install --prefix crates/thinnest/tests/node)");
            return None;
        }
        let mut process = Command::new("node")
            .arg(dir.join("identity_provider.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start node");
        let stdout = process.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("the provider's address");
        let started: Value = serde_json::from_str(&line).expect("JSON from the provider");
        Some(IdentityProvider {
            issuer: started["issuer"].as_str().unwrap().to_owned(),
            api: started["api"].as_str().unwrap().to_owned(),
            _process: process,
        })
    }

    /// Who signs in next and what to tamper with; unspecified fields take defaults.
    pub async fn next_sign_in(&self, settings: Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/control", self.api))
            .json(&settings)
            .send()
            .await
            .expect("control the provider");
        assert!(response.status().is_success());
    }

    /// `serve` flags for one provider: `google`, `github` or `oidc`.
    pub fn flags(&self, provider: &str) -> Vec<String> {
        let issuer = &self.issuer;
        let flags = match provider {
            "google" => [
                ("--google-client-id", CLIENT_ID.to_owned()),
                ("--google-client-secret", CLIENT_SECRET.to_owned()),
                ("--google-issuer", issuer.clone()),
            ]
            .to_vec(),
            "github" => [
                ("--github-client-id", CLIENT_ID.to_owned()),
                ("--github-client-secret", CLIENT_SECRET.to_owned()),
                ("--github-authorize-url", format!("{issuer}/authorize")),
                ("--github-token-url", format!("{issuer}/token")),
                ("--github-api-url", self.api.clone()),
            ]
            .to_vec(),
            _ => [
                (
                    "--oidc-discovery-url",
                    format!("{issuer}/.well-known/openid-configuration"),
                ),
                ("--oidc-client-id", CLIENT_ID.to_owned()),
                ("--oidc-client-secret", CLIENT_SECRET.to_owned()),
                ("--oidc-name", "Acme SSO".to_owned()),
            ]
            .to_vec(),
        };
        flags
            .into_iter()
            .flat_map(|(flag, value)| [flag.to_owned(), value])
            .collect()
    }
}
