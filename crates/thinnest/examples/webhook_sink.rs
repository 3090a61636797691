//! A webhook receiver for the delivery benchmark: answers every POST with 204, checks
//! the `X-ThinnestAI-Signature` with the `thinnestai` crate, and prints one line per
//! delivery: the time it arrived and the event's `created_at`, in unix milliseconds,
//! and whether the signature verified.
//!
//! `cargo run --release --example webhook_sink -- <secret>`: prints `listening <port>`
//! first, then the lines.

use std::io::Write;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::mpsc;

type Lines = mpsc::UnboundedSender<String>;

fn unix_ms(at: time::OffsetDateTime) -> i128 {
    at.unix_timestamp_nanos() / 1_000_000
}

async fn receive(
    State((secret, lines)): State<(String, Lines)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let arrived = unix_ms(time::OffsetDateTime::now_utc());
    let signature = headers
        .get("x-thinnestai-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let verified = thinnestai::verify_signature(&body, signature, &secret).is_ok();
    let created = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|event| event["created_at"].as_str().map(str::to_owned))
        .and_then(|text| {
            time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).ok()
        })
        .map_or(0, unix_ms);
    let _ = lines.send(format!("{arrived} {created} {verified}"));
    StatusCode::NO_CONTENT
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secret = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: webhook_sink <signing secret>"))?;
    let (lines, mut out) = mpsc::unbounded_channel::<String>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening {}", listener.local_addr()?.port());
    tokio::spawn(async move {
        while let Some(line) = out.recv().await {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
    });
    let app = Router::new()
        .route("/{*path}", post(receive))
        .with_state((secret, lines));
    axum::serve(listener, app).await?;
    Ok(())
}
