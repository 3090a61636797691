//! The benchmark's reference: the bare stack the server is built on (axum over
//! axum-server and rustls, the same TLS settings and certificate as `thinnest serve`),
//! answering every request with a fixed JSON body and nothing else.
//!
//! `cargo run --release --example bare_reference -- --data-dir DIR --listen ADDR`
//!
//! `DIR` holds (or gets) the certificate `thinnest serve --data-dir DIR` uses, so
//! clients trust both servers alike.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum_server::tls_rustls::RustlsConfig;
use clap::Parser;

/// The same allocator as `thinnest serve`, so that the ratios measure thinnest's work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// A data directory: the server's certificate is read (or generated) under `tls/`.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    listen: SocketAddr,
}

async fn fixed() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], r#"{"status":"ok"}"#)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a TLS crypto provider was already installed"))?;
    let args = Args::parse();
    let data_dir = args.data_dir.to_string_lossy().into_owned();
    let cli = thinnest::cli::Cli::try_parse_from(["thinnest", "serve", "--data-dir", &data_dir])?;
    let thinnest::cli::Command::Serve(config) = cli.command else {
        anyhow::bail!("`serve` did not parse as the serve command");
    };
    let tls = thinnest::tls::server_config(&config)?;
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let app = Router::new().fallback(fixed);
    axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls))?
        .serve(app.into_make_service())
        .await?;
    Ok(())
}
