//! One typed configuration: every flag of `thinnest serve` is also a `THINNEST_*` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ipnet::IpNet;

pub const DEFAULT_DATA_DIR: &str = "./thinnest-data";

/// Where the data lives: shared by `serve` and the operator commands.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Directory for the SQLite file and the generated TLS certificate.
    #[arg(long, env = "THINNEST_DATA_DIR", default_value = DEFAULT_DATA_DIR, global = true)]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; default: `thinnest.db` in the data directory.
    #[arg(long, env = "THINNEST_DATABASE_URL", global = true)]
    pub database_url: Option<SecretUrl>,
}

/// A URL that may hold a password: its Debug output hides the password.
#[derive(Clone)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SecretUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretUrl(s.to_owned()))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.0;
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let user = url[scheme_end + 3..at]
                    .split(':')
                    .next()
                    .unwrap_or_default();
                write!(f, "{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
            }
            _ => write!(f, "{url}"),
        }
    }
}

impl StoreArgs {
    /// The database URL to connect to, creating the data directory for the default SQLite file.
    /// A SQLite URL without `mode=` gets `mode=rwc`, so a new file is created.
    pub fn resolved_database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if url.starts_with("sqlite:") && !url.contains("mode=") {
                let joiner = if url.contains('?') { '&' } else { '?' };
                return Ok(format!("{url}{joiner}mode=rwc"));
            }
            return Ok(url.to_owned());
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

    /// Base64 of 32 random bytes that seals stored secrets (AES-256-GCM); every instance
    /// of an installation needs the same. Default: `<data-dir>/encryption.key`, generated.
    #[arg(long, env = "THINNEST_ENCRYPTION_KEY")]
    pub encryption_key: Option<Secret>,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    #[command(flatten)]
    pub agents: AgentArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub dashboard: DashboardArgs,

    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// How agents answer, and the embedded chat widget.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// An OpenAI-compatible chat completions server, e.g. `https://api.openai.com/v1`;
    /// agents whose model is not `builtin` answer through it.
    #[arg(long, env = "THINNEST_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,

    /// The API key for `--llm-base-url`.
    #[arg(long, env = "THINNEST_LLM_API_KEY")]
    pub llm_api_key: Option<Secret>,

    /// Widget sessions one agent may start per minute, whatever the visitors.
    #[arg(long, env = "THINNEST_WIDGET_SESSIONS_PER_AGENT", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub widget_sessions_per_agent: u32,

    /// Widget messages one agent may answer per minute, whatever the visitors.
    #[arg(long, env = "THINNEST_WIDGET_MESSAGES_PER_AGENT", default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub widget_messages_per_agent: u32,

    /// Widget requests (preflights, checks, sessions and messages) one client address
    /// may make per minute.
    #[arg(long, env = "THINNEST_WIDGET_REQUESTS_PER_IP", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub widget_requests_per_ip: u32,
}

/// Webhook endpoints and their delivery.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Lets webhook endpoints use http:// and private, loopback or link-local addresses
    /// (development and tests only).
    #[arg(long, env = "THINNEST_ALLOW_PRIVATE_WEBHOOK_TARGETS",
        value_parser = clap::builder::FalseyValueParser::new())]
    pub allow_private_webhook_targets: bool,

    /// Webhook endpoints one account may have.
    #[arg(long, env = "THINNEST_WEBHOOK_ENDPOINT_LIMIT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub webhook_endpoint_limit: u32,

    /// Deliveries this instance sends at once; 0: this instance sends none (others do).
    #[arg(long, env = "THINNEST_WEBHOOK_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub webhook_concurrency: u32,

    /// Deliveries this instance sends at once to one endpoint, so that a slow endpoint
    /// cannot hold up the others.
    #[arg(long, env = "THINNEST_WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_endpoint_concurrency: u32,

    /// The waits before each retry of a failed delivery (each varied by up to 10%);
    /// after the last, the delivery fails.
    #[arg(long, env = "THINNEST_WEBHOOK_RETRY_DELAYS", value_delimiter = ',',
        default_value = "5s,30s,2m,10m,30m,1h,3h,6h,12h,24h", value_parser = parse_duration)]
    pub webhook_retry_delays: Vec<std::time::Duration>,

    /// An endpoint that has failed for this long without a success is disabled, and its
    /// Admins are emailed.
    #[arg(long, env = "THINNEST_WEBHOOK_DISABLE_AFTER", default_value = "3d", value_parser = parse_duration)]
    pub webhook_disable_after: std::time::Duration,
}

/// `250ms`, `5s`, `2m`, `1h` or `3d`, at most 30 days.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} needs a unit: ms, s, m, h or d"))?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number followed by a unit"))?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit: use ms, s, m, h or d"
            ));
        }
    };
    let total = n.saturating_mul(ms);
    if total > 30 * 86_400_000 {
        return Err(format!("{text:?} is longer than 30 days"));
    }
    Ok(std::time::Duration::from_millis(total))
}

/// A secret given on the command line or in the environment: Debug shows no part of it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Dashboard sign-in through Google, GitHub or any other OpenID Connect provider.
/// A provider is offered once its client id and secret are set. The endpoint flags
/// exist so that a test, or GitHub Enterprise, can point elsewhere.
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// OAuth client id from Google Cloud; turns on "Continue with Google".
    #[arg(
        long,
        env = "THINNEST_GOOGLE_CLIENT_ID",
        requires = "google_client_secret"
    )]
    pub google_client_id: Option<String>,

    /// OAuth client secret for `--google-client-id`.
    #[arg(
        long,
        env = "THINNEST_GOOGLE_CLIENT_SECRET",
        requires = "google_client_id"
    )]
    pub google_client_secret: Option<Secret>,

    /// Google's OpenID Connect issuer.
    #[arg(
        long,
        env = "THINNEST_GOOGLE_ISSUER",
        default_value = "https://accounts.google.com"
    )]
    pub google_issuer: String,

    /// OAuth app client id from GitHub; turns on "Continue with GitHub".
    #[arg(
        long,
        env = "THINNEST_GITHUB_CLIENT_ID",
        requires = "github_client_secret"
    )]
    pub github_client_id: Option<String>,

    /// OAuth app client secret for `--github-client-id`.
    #[arg(
        long,
        env = "THINNEST_GITHUB_CLIENT_SECRET",
        requires = "github_client_id"
    )]
    pub github_client_secret: Option<Secret>,

    /// GitHub's authorization page.
    #[arg(
        long,
        env = "THINNEST_GITHUB_AUTHORIZE_URL",
        default_value = "https://github.com/login/oauth/authorize"
    )]
    pub github_authorize_url: String,

    /// GitHub's token endpoint.
    #[arg(
        long,
        env = "THINNEST_GITHUB_TOKEN_URL",
        default_value = "https://github.com/login/oauth/access_token"
    )]
    pub github_token_url: String,

    /// GitHub's REST API, for the user and their verified emails.
    #[arg(
        long,
        env = "THINNEST_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// Another OpenID Connect provider (Auth0, Keycloak, Okta, …): its discovery URL
    /// (`…/.well-known/openid-configuration`) or its issuer URL.
    #[arg(long, env = "THINNEST_OIDC_DISCOVERY_URL", requires_all = ["oidc_client_id", "oidc_client_secret"])]
    pub oidc_discovery_url: Option<String>,

    /// Client id registered with the `--oidc-discovery-url` provider.
    #[arg(long, env = "THINNEST_OIDC_CLIENT_ID", requires = "oidc_discovery_url")]
    pub oidc_client_id: Option<String>,

    /// Client secret for `--oidc-client-id`.
    #[arg(
        long,
        env = "THINNEST_OIDC_CLIENT_SECRET",
        requires = "oidc_discovery_url"
    )]
    pub oidc_client_secret: Option<Secret>,

    /// The provider's name on the sign-in button: "Continue with <name>".
    #[arg(long, env = "THINNEST_OIDC_NAME", default_value = "single sign-on")]
    pub oidc_name: String,
}

/// Dashboard sign-in: sessions and the email they send.
#[derive(Debug, Clone, clap::Args)]
pub struct DashboardArgs {
    /// SMTP server for outgoing email, e.g. `smtp://127.0.0.1:2525` or
    /// `smtp://user:pass@mail.example.com:587?tls=required`; default: `<data-dir>/outbox/`.
    #[arg(long, env = "THINNEST_SMTP_URL")]
    pub smtp_url: Option<SecretUrl>,

    /// Sender of outgoing email.
    #[arg(
        long,
        env = "THINNEST_EMAIL_FROM",
        default_value = "thinnest <no-reply@localhost>"
    )]
    pub email_from: String,

    /// A dashboard session ends after this many minutes without a request.
    #[arg(long, env = "THINNEST_SESSION_IDLE_MINUTES", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub session_idle_minutes: u32,

    /// A dashboard session ends this many hours after sign-in, whatever happens.
    #[arg(long, env = "THINNEST_SESSION_MAX_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..))]
    pub session_max_hours: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// Rate limits: defaults per class (per account and rolling minute), the key-guessing
/// guard, and where budgets live.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// `off` serves without rate limits (behind a gateway that limits, or to benchmark).
    #[arg(long, env = "THINNEST_RATE_LIMITING", value_enum, default_value = "on")]
    pub rate_limiting: Switch,

    /// Redis shared by all instances, e.g. `redis://127.0.0.1:6379`; default: in-process.
    #[arg(long, env = "THINNEST_REDIS_URL")]
    pub redis_url: Option<SecretUrl>,

    /// Prefix of this installation's Redis keys.
    #[arg(long, env = "THINNEST_REDIS_PREFIX", default_value = "thinnest")]
    pub redis_prefix: String,

    /// Agent CRUD requests per account and minute.
    #[arg(long, env = "THINNEST_LIMIT_AGENT_CRUD", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_agent_crud: u32,

    /// Chat/conversation requests per account and minute.
    #[arg(long, env = "THINNEST_LIMIT_CONVERSATION", default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_conversation: u32,

    /// Call triggers per account and minute.
    #[arg(long, env = "THINNEST_LIMIT_CALL_TRIGGER", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_call_trigger: u32,

    /// Knowledge uploads per account and minute.
    #[arg(long, env = "THINNEST_LIMIT_KNOWLEDGE_UPLOAD", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_knowledge_upload: u32,

    /// Requests to every other authenticated endpoint per account and minute.
    #[arg(long, env = "THINNEST_LIMIT_OTHER", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_other: u32,

    /// Failed authentications (401) per client address and minute; past it, 429
    /// before any key is looked up.
    #[arg(long, env = "THINNEST_AUTH_FAILURE_LIMIT", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failure_limit: u32,
}

impl LimitArgs {
    /// The settings as `THINNEST_*` variables give them, for commands other than `serve`.
    pub fn from_env() -> anyhow::Result<LimitArgs> {
        #[derive(clap::Parser)]
        struct FromEnv {
            #[command(flatten)]
            limits: LimitArgs,
        }
        Ok(<FromEnv as clap::Parser>::try_parse_from(["thinnest"])?.limits)
    }
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
    fn durations_take_a_unit() {
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("3d"),
            Ok(std::time::Duration::from_secs(3 * 86_400))
        );
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("31d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let args = StoreArgs {
            data_dir: PathBuf::from("d"),
            database_url: Some(SecretUrl("postgres://app:s3cret@db:5432/prod".to_owned())),
        };
        let debug = format!("{args:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("postgres://app:***@db:5432/prod"), "{debug}");
    }
}
