//! The command line: `thinnest serve` and `thinnest bootstrap`.

use std::time::Duration;

use std::collections::BTreeMap;

use clap::{Parser, Subcommand};

use crate::config::{Config, DEFAULT_DATA_DIR, LimitArgs, StoreArgs};
use crate::domain::actors::Actor;
use crate::domain::limits::Class;
use crate::services::bootstrap::bootstrap;
use crate::store::Store;
use crate::{App, tls};

#[derive(Debug, Parser)]
#[command(
    name = "thinnest",
    version,
    about = "The thinnest server: API keys, agents and their security layer"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API over HTTPS (and refuse plain HTTP).
    Serve(Box<Config>),
    /// Create an account and its first Admin when missing, and print a new full-access API key.
    Bootstrap {
        #[command(flatten)]
        store: StoreArgs,
        /// The Admin's email address.
        #[arg(long)]
        email: String,
        /// The account (workspace) name; another name makes a separate account.
        #[arg(long, default_value = "Default")]
        account_name: String,
    },
    /// Show or change an account's rate limits (they apply at once, on every instance).
    Limits {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        action: LimitsAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum LimitsAction {
    /// Print the account's limit per class, marking overrides.
    Show {
        #[arg(long)]
        account: String,
    },
    /// Override one class's limit for the account.
    Set {
        #[arg(long)]
        account: String,
        /// agent_crud, conversation, call_trigger, knowledge_upload or other.
        #[arg(long, value_parser = parse_class)]
        class: Class,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        per_minute: u32,
    },
    /// Remove an override: the class goes back to the default.
    Unset {
        #[arg(long)]
        account: String,
        #[arg(long, value_parser = parse_class)]
        class: Class,
    },
}

fn parse_class(text: &str) -> Result<Class, String> {
    Class::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// Runs a `limits` action and prints the account's limits afterwards.
async fn limits(store: StoreArgs, action: LimitsAction) -> anyhow::Result<()> {
    let defaults = crate::state::default_limits(&LimitArgs::from_env()?);
    let db = Store::open(&store.resolved_database_url()?).await?;
    let account = match &action {
        LimitsAction::Show { account }
        | LimitsAction::Set { account, .. }
        | LimitsAction::Unset { account, .. } => account.clone(),
    };
    let Some(text) = db.rate_limit_overrides(&account).await? else {
        anyhow::bail!("no account {account}");
    };
    let mut overrides: BTreeMap<String, u32> = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("account {account} has unreadable overrides {text:?}: {e}"))?;
    let change = match action {
        LimitsAction::Show { .. } => None,
        LimitsAction::Set {
            class, per_minute, ..
        } => {
            overrides.insert(class.as_str().to_owned(), per_minute);
            Some(serde_json::json!({"class": class.as_str(), "per_minute": per_minute}))
        }
        LimitsAction::Unset { class, .. } => overrides
            .remove(class.as_str())
            .map(|_| serde_json::json!({"class": class.as_str(), "per_minute": null})),
    };
    let text = serde_json::to_string(&overrides)?;
    if let Some(detail) = change {
        let actor = Actor::operator("thinnest limits");
        db.set_rate_limit_overrides(&account, &text, &actor, detail)
            .await?;
        crate::auth::cache::wait_for_running_instances(&db).await;
    }
    let effective = defaults.with_overrides(&text);
    println!("limits of {account} per minute (defaults as configured in this environment):");
    for class in Class::ALL {
        let marker = if overrides.contains_key(class.as_str()) {
            " (override)"
        } else {
            ""
        };
        println!(
            "{:<17} {:>6}/min{marker}",
            class.as_str(),
            effective.get(class)
        );
    }
    Ok(())
}

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const DRAIN: Duration = Duration::from_secs(30);

async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}

/// The bootstrap command for this server's data, naming the same data directory
/// and, without showing it, the same database.
fn bootstrap_hint(store: &StoreArgs) -> String {
    let mut hint = "thinnest bootstrap --email you@example.com".to_owned();
    if store.data_dir != std::path::Path::new(DEFAULT_DATA_DIR) {
        hint += &format!(" --data-dir {}", store.data_dir.display());
    }
    if store.database_url.is_some() {
        hint += " (with the same --database-url or THINNEST_DATABASE_URL)";
    }
    hint
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let app = App::build(config).await?;
    let config = app.state().config.clone();
    let running = app.start()?;
    tracing::info!("HTTPS listening on https://{}", running.https_addr);
    if let Some(addr) = running.http_addr {
        tracing::info!(
            "plain-HTTP guard on http://{addr}: API calls are refused, dashboard pages redirect to HTTPS"
        );
    }
    if config.tls_cert.is_none() {
        tracing::info!(
            "TLS: generated certificate; clients trust {}",
            tls::generated_dir(&config.store.data_dir)
                .join("ca.pem")
                .display()
        );
    }
    tracing::info!(
        "first time? create an account and an API key: {}",
        bootstrap_hint(&config.store)
    );
    shutdown_signal().await?;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown(DRAIN);
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => serve(*config).await,
        Command::Bootstrap {
            store,
            email,
            account_name,
        } => {
            let db = Store::open(&store.resolved_database_url()?).await?;
            let made = bootstrap(&db, &email, &account_name).await?;
            println!("account {} ({account_name})", made.account_id);
            println!("admin {} ({})", made.user_id, made.email);
            println!("API key with full access; it is shown only now, so store it safely:");
            println!("{}", made.key.expose());
            Ok(())
        }
        Command::Limits { store, action } => limits(store, action).await,
    }
}
