//! One typed configuration: every flag of `thinnest serve` is also a `THINNEST_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ipnet::IpNet;

pub const DEFAULT_DATA_DIR: &str = "./thinnest-data";

/// Where the data lives: shared by `serve` and the operator commands.
#[derive(Clone, clap::Args)]
pub struct StoreArgs {
    /// Directory for the SQLite file and the generated TLS certificate.
    #[arg(long, env = "THINNEST_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; default: `thinnest.db` in the data directory.
    #[arg(long, env = "THINNEST_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// The URL without its password, for Debug output.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl std::fmt::Debug for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreArgs")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redacted))
            .finish()
    }
}

impl StoreArgs {
    /// The database URL to connect to, creating the data directory for the default SQLite file.
    /// A SQLite URL without `mode=` gets `mode=rwc`, so a new file is created.
    pub fn resolved_database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            if url.starts_with("sqlite:") && !url.contains("mode=") {
                let joiner = if url.contains('?') { '&' } else { '?' };
                return Ok(format!("{url}{joiner}mode=rwc"));
            }
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))?;
        Ok(format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join("thinnest.db").display()
        ))
    }
}

/// The plain-HTTP guard's address, or `off`.
#[derive(Debug, Clone, Copy)]
pub struct HttpListen(pub Option<SocketAddr>);

fn parse_http_listen(value: &str) -> Result<HttpListen, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(HttpListen(None));
    }
    value
        .parse()
        .map(|addr| HttpListen(Some(addr)))
        .map_err(|e| format!("expected ADDRESS:PORT or `off`: {e}"))
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    #[command(flatten)]
    pub store: StoreArgs,

    /// HTTPS listener.
    #[arg(long, env = "THINNEST_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Plain-HTTP listener that refuses API calls and redirects dashboard pages; `off` disables it.
    #[arg(long, env = "THINNEST_HTTP_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_http_listen)]
    pub http_listen: HttpListen,

    /// PEM certificate chain; default: a certificate generated in the data directory.
    #[arg(long, env = "THINNEST_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for `--tls-cert`.
    #[arg(long, env = "THINNEST_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The HTTPS address users reach, e.g. `https://api.example.com`; used in redirects.
    #[arg(long, env = "THINNEST_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// CIDRs of proxies whose X-Forwarded-Proto / X-Forwarded-For are believed (comma-separated).
    #[arg(long, env = "THINNEST_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<IpNet>,
}

impl Config {
    /// Checks what clap cannot: the public URL's shape.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.public_url {
            let uri: axum::http::Uri = url.parse().context("--public-url is not a URL")?;
            if uri.scheme_str() != Some("https") || uri.authority().is_none() {
                bail!("--public-url must be an https:// URL with a host, got {url}");
            }
        }
        Ok(())
    }

    /// The public URL without a trailing slash, if one is configured.
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_database_password() {
        let args = StoreArgs {
            data_dir: PathBuf::from("d"),
            database_url: Some("postgres://app:s3cret@db:5432/prod".to_owned()),
        };
        let debug = format!("{args:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("postgres://app:***@db:5432/prod"), "{debug}");
    }
}
