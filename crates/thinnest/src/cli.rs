//! The command line: `thinnest serve` and `thinnest bootstrap`.

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::bootstrap::bootstrap;
use crate::config::{Config, DEFAULT_DATA_DIR, StoreArgs};
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
    }
}
