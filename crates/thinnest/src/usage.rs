//! Usage counting: every authenticated request becomes one event, aggregated in
//! memory per key, class, outcome and hour, and written in batches by one
//! background task, so that counting costs the request path one channel send.
//! Graceful shutdown writes what is pending.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::limits::Class;
use crate::domain::usage::{LastUse, NewCount};
use crate::store::Store;

/// How often pending counts are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const HOUR_MS: i64 = 3_600_000;

/// What became of a request, as usage counts it. 403 and 429 are kept apart from the
/// other client errors so they stand out. (Requests with a revoked or expired key, and
/// keys sent over plain HTTP, are security events of the key, not usage.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16),
    /// The request ended without a response: the client went away or the handler panicked.
    Abandoned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Abandoned => "abandoned",
            Outcome::Status(403) => "403",
            Outcome::Status(429) => "429",
            Outcome::Status(200..=299) => "2xx",
            Outcome::Status(300..=399) => "3xx",
            Outcome::Status(400..=499) => "4xx",
            Outcome::Status(_) => "5xx",
        }
    }

    pub fn of(status: StatusCode) -> Outcome {
        Outcome::Status(status.as_u16())
    }
}

/// One request made with a key.
#[derive(Debug, Clone)]
pub struct UsageEvent {
    pub account_id: String,
    pub key_id: String,
    pub class: Class,
    pub outcome: Outcome,
    pub client_ip: IpAddr,
    pub at: i64,
}

/// Hands events to the writer; cheap to clone, never blocks.
#[derive(Clone)]
pub struct UsageRecorder {
    tx: mpsc::UnboundedSender<UsageEvent>,
}

impl UsageRecorder {
    fn record(&self, event: UsageEvent) {
        if self.tx.send(event).is_err() {
            tracing::error!("usage writer has stopped: a request was not counted");
        }
    }

    /// Counts `event` when the returned guard drops: with the outcome set on it by
    /// then, or as abandoned if the request never completed.
    pub fn on_drop(&self, mut event: UsageEvent) -> CountOnDrop {
        event.outcome = Outcome::Abandoned;
        CountOnDrop {
            event: Some(event),
            recorder: self.clone(),
        }
    }
}

/// See [`UsageRecorder::on_drop`].
pub struct CountOnDrop {
    event: Option<UsageEvent>,
    recorder: UsageRecorder,
}

impl CountOnDrop {
    pub fn set_outcome(&mut self, outcome: Outcome) {
        if let Some(event) = &mut self.event {
            event.outcome = outcome;
        }
    }
}

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            self.recorder.record(event);
        }
    }
}

/// The background writer; [`UsageWriter::finish`] writes what is pending and stops it.
pub struct UsageWriter {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl UsageWriter {
    pub async fn finish(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "usage writer failed");
        }
    }
}

/// Ordered maps, so that every instance writes rows in the same order and
/// concurrent writers on PostgreSQL cannot deadlock.
#[derive(Default)]
struct Pending {
    counts: BTreeMap<(String, String, Class, Outcome, i64), i64>,
    last_use: BTreeMap<String, (i64, IpAddr)>,
}

impl Pending {
    fn add(&mut self, e: UsageEvent) {
        let hour = e.at - e.at.rem_euclid(HOUR_MS);
        *self
            .counts
            .entry((e.account_id, e.key_id.clone(), e.class, e.outcome, hour))
            .or_default() += 1;
        let last = self.last_use.entry(e.key_id).or_insert((e.at, e.client_ip));
        if e.at >= last.0 {
            *last = (e.at, e.client_ip);
        }
    }

    /// Writes everything; on failure keeps it for the next attempt.
    async fn flush(&mut self, store: &Store) {
        if self.counts.is_empty() && self.last_use.is_empty() {
            return;
        }
        let counts: Vec<NewCount> = self
            .counts
            .iter()
            .map(|((account, key, class, outcome, hour), n)| NewCount {
                account_id: account.clone(),
                key_id: key.clone(),
                class: class.as_str(),
                outcome: outcome.as_str(),
                hour: *hour,
                count: *n,
            })
            .collect();
        let uses: Vec<LastUse> = self
            .last_use
            .iter()
            .map(|(key, (at, ip))| LastUse {
                key_id: key.clone(),
                at: *at,
                client_ip: ip.to_string(),
            })
            .collect();
        match store.write_usage(&counts, &uses).await {
            Ok(()) => {
                self.counts.clear();
                self.last_use.clear();
            }
            Err(e) => tracing::error!(error = %e, "could not write usage; will retry"),
        }
    }
}

/// Starts the writer.
pub fn start(store: Store) -> (UsageRecorder, UsageWriter) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut pending = Pending::default();
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => pending.add(event),
                    None => break,
                },
                _ = tick.tick() => pending.flush(&store).await,
                _ = &mut stopped => break,
            }
        }
        while let Ok(event) = rx.try_recv() {
            pending.add(event);
        }
        pending.flush(&store).await;
    });
    (UsageRecorder { tx }, UsageWriter { stop, task })
}
