//! Rate-limit decisions per second: in process, and through Redis when a URL is given.
//!
//! `cargo run --release --example limiter_decisions -- [--redis-url URL] [--seconds N]`
//!
//! Every decision is a `Mode::Take` under a limit no budget reaches, so every one is
//! accepted and logged: the limiter's costliest path. Keys look like the server's
//! (`budget:<account>:agent_crud`), over 1000 accounts or one hot account. Mean latency
//! is tasks × time / decisions (each task always has one decision in flight).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use thinnest::ratelimit::{Limiter, Mode};

/// Far above what any budget receives in a run: every decision is accepted.
const LIMIT: u32 = u32::MAX;
/// Concurrent deciders on Redis, sharing one connection as the server's requests do.
const REDIS_TASKS: usize = 32;

fn keys(accounts: usize) -> Arc<Vec<String>> {
    Arc::new(
        (0..accounts)
            .map(|i| format!("budget:acct_{i:032x}:agent_crud"))
            .collect(),
    )
}

async fn take(limiter: &Limiter, key: &str) -> anyhow::Result<()> {
    let allowed = limiter.decide(key, LIMIT, Mode::Take).await.allowed;
    ensure!(allowed, "refused under a limit of {LIMIT}");
    Ok(())
}

/// One task deciding in a loop. The log keeps every accepted decision for a minute,
/// so a fresh limiter every `BATCH` decisions bounds memory.
async fn in_process(keys: &[String], run: Duration) -> anyhow::Result<(u64, Duration)> {
    const BATCH: usize = 1 << 18;
    let start = Instant::now();
    let mut decisions = 0;
    while start.elapsed() < run {
        let limiter = Limiter::new(None, "")?;
        for key in keys.iter().cycle().take(BATCH) {
            take(&limiter, key).await?;
        }
        decisions += BATCH as u64;
    }
    Ok((decisions, start.elapsed()))
}

/// `REDIS_TASKS` tasks deciding in a loop under a fresh prefix. Returns the decisions,
/// the time, and how many of them Redis logged: fewer means some were decided in
/// process because Redis did not answer in time.
async fn via_redis(
    url: &str,
    accounts: usize,
    run: Duration,
) -> anyhow::Result<(u64, Duration, u64)> {
    let keys = keys(accounts);
    let prefix = format!("thinnest-bench-{}", uuid::Uuid::now_v7().simple());
    let limiter = Arc::new(Limiter::new(Some(url), &prefix)?);
    limiter.decide("connect", LIMIT, Mode::Peek).await;
    ensure!(
        limiter.status() == "redis",
        "Redis at {url} does not answer"
    );

    let start = Instant::now();
    let tasks: Vec<_> = (0..REDIS_TASKS)
        .map(|task| {
            let (limiter, keys) = (limiter.clone(), keys.clone());
            tokio::spawn(async move {
                let mut decisions = 0u64;
                for key in keys.iter().cycle().skip(task) {
                    if start.elapsed() >= run {
                        break;
                    }
                    take(&limiter, key).await?;
                    decisions += 1;
                }
                anyhow::Ok(decisions)
            })
        })
        .collect();
    let mut decisions = 0;
    for task in tasks {
        decisions += task.await.context("a deciding task panicked")??;
    }
    let elapsed = start.elapsed();

    // The run is shorter than the window, so Redis still holds every decision it made.
    let mut logged = 0;
    for key in keys.iter() {
        logged += u64::from(LIMIT - limiter.decide(key, LIMIT, Mode::Peek).await.remaining);
    }
    Ok((decisions, elapsed, logged))
}

fn row(limiter: &str, keys: usize, tasks: usize, decisions: u64, elapsed: Duration, note: &str) {
    let secs = elapsed.as_secs_f64();
    let rate = decisions as f64 / secs;
    let latency_us = tasks as f64 * secs / decisions as f64 * 1e6;
    println!("{limiter:<11} {keys:>5} {tasks:>6} {rate:>13.0} {latency_us:>16.3}  {note}");
}

fn parse_args() -> anyhow::Result<(Option<String>, u64)> {
    let (mut redis_url, mut seconds) = (None, 3);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--redis-url" => redis_url = Some(args.next().context("--redis-url needs a URL")?),
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                seconds = value.parse().context("--seconds must be a whole number")?;
            }
            other => bail!("unknown argument {other}; usage: [--redis-url URL] [--seconds N]"),
        }
    }
    // Redis's count check needs the whole run inside one 60 s window.
    ensure!((1..=50).contains(&seconds), "--seconds must be 1 to 50");
    Ok((redis_url, seconds))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (redis_url, seconds) = parse_args()?;
    let run = Duration::from_secs(seconds);
    println!("limiter decisions (Mode::Take, all accepted), {seconds} s per row");
    println!("limiter      keys  tasks   decisions/s  mean latency µs  check");
    for accounts in [1000, 1] {
        let (decisions, elapsed) = in_process(&keys(accounts), run).await?;
        row("in-process", accounts, 1, decisions, elapsed, "-");
    }
    if let Some(url) = redis_url {
        for accounts in [1000, 1] {
            let (decisions, elapsed, logged) = via_redis(&url, accounts, run).await?;
            let note = match decisions.saturating_sub(logged) {
                0 => "all logged in Redis".to_owned(),
                n => format!("{n} decided in process: Redis too slow"),
            };
            row("redis", accounts, REDIS_TASKS, decisions, elapsed, &note);
        }
    }
    Ok(())
}
