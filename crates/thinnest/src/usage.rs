//! Usage counting: every authenticated request becomes one event, added in place to
//! in-memory counts per key, class, outcome and hour, which one background task writes
//! every second, so that counting costs the request path one short lock and wakes no
//! task. Graceful shutdown writes what is pending.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::oneshot;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// Adds events to the pending counts; cheap to clone.
#[derive(Clone)]
pub struct UsageRecorder {
    pending: Arc<Mutex<Pending>>,
}

impl UsageRecorder {
    fn record(&self, event: UsageEvent) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add(event);
    }

    fn take(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
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

    /// Counts nothing after all: the request turned out not to be the account's.
    pub fn forget(mut self) {
        self.event = None;
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

/// What one key did since the last write.
struct KeyUsage {
    account_id: String,
    counts: HashMap<(Class, Outcome, i64), i64>,
    last_use: (i64, IpAddr),
}

/// Pending counts per key.
#[derive(Default)]
struct Pending {
    keys: HashMap<String, KeyUsage>,
}

impl Pending {
    fn add(&mut self, e: UsageEvent) {
        let hour = e.at - e.at.rem_euclid(HOUR_MS);
        let usage = match self.keys.get_mut(&e.key_id) {
            Some(usage) => usage,
            None => self.keys.entry(e.key_id).or_insert(KeyUsage {
                account_id: e.account_id,
                counts: HashMap::new(),
                last_use: (e.at, e.client_ip),
            }),
        };
        *usage.counts.entry((e.class, e.outcome, hour)).or_default() += 1;
        if e.at >= usage.last_use.0 {
            usage.last_use = (e.at, e.client_ip);
        }
    }

    /// Adds what `other` holds.
    fn absorb(&mut self, other: Pending) {
        for (key, usage) in other.keys {
            match self.keys.get_mut(&key) {
                None => {
                    self.keys.insert(key, usage);
                }
                Some(mine) => {
                    for (slot, n) in usage.counts {
                        *mine.counts.entry(slot).or_default() += n;
                    }
                    if usage.last_use.0 >= mine.last_use.0 {
                        mine.last_use = usage.last_use;
                    }
                }
            }
        }
    }

    /// Writes everything; on failure keeps it for the next attempt. Rows go in one
    /// order on every instance, so that concurrent writers on PostgreSQL cannot deadlock.
    async fn flush(&mut self, store: &Store) {
        if self.keys.is_empty() {
            return;
        }
        let mut counts: Vec<NewCount> = Vec::new();
        let mut uses: Vec<LastUse> = Vec::new();
        for (key, usage) in &self.keys {
            for ((class, outcome, hour), n) in &usage.counts {
                counts.push(NewCount {
                    account_id: usage.account_id.clone(),
                    key_id: key.clone(),
                    class: class.as_str(),
                    outcome: outcome.as_str(),
                    hour: *hour,
                    count: *n,
                });
            }
            uses.push(LastUse {
                key_id: key.clone(),
                at: usage.last_use.0,
                client_ip: usage.last_use.1.to_string(),
            });
        }
        counts.sort_by(|a, b| {
            (&a.account_id, &a.key_id, a.class, a.outcome, a.hour).cmp(&(
                &b.account_id,
                &b.key_id,
                b.class,
                b.outcome,
                b.hour,
            ))
        });
        uses.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        match store.write_usage(&counts, &uses).await {
            Ok(()) => self.keys.clear(),
            Err(e) => tracing::error!(error = %e, "could not write usage; will retry"),
        }
    }
}

/// Starts the writer.
pub fn start(store: Store) -> (UsageRecorder, UsageWriter) {
    let recorder = UsageRecorder {
        pending: Arc::default(),
    };
    let (stop, mut stopped) = oneshot::channel::<()>();
    let counts = recorder.clone();
    let task = tokio::spawn(async move {
        // What failed to be written, kept for the next attempt.
        let mut unwritten = Pending::default();
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stopped => break,
            }
            unwritten.absorb(counts.take());
            unwritten.flush(&store).await;
        }
        unwritten.absorb(counts.take());
        unwritten.flush(&store).await;
    });
    (recorder, UsageWriter { stop, task })
}
