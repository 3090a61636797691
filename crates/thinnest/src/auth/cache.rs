//! The verified-key cache: what a presented key verified as (its row and its account's
//! limits), kept in memory so that an authenticated request needs no database round
//! trip, and never trusted past what the key-change feed has confirmed.
//!
//! - Every change to what a key verifies as adds a numbered row to the feed in the
//!   change's transaction ([`crate::store::key_changes`]).
//! - Each instance applies the feed (on PostgreSQL woken by `NOTIFY`, else polling) by
//!   dropping the entries of the accounts it names, and reports the last change it has
//!   applied.
//! - A request that made a change is answered only once every instance seen lately has
//!   reported that change applied, or once every lease granted before it has run out.
//! - An instance uses its cache only within a lease of [`LEASE`] from its last
//!   successful read of the feed *and* report: one that lost the feed, or the database,
//!   goes back to the database for every key until it has caught up.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use crate::domain::keys::Key;
use crate::domain::limits::Limits;
use crate::domain::time::now_ms;
use crate::store::Store;
use crate::store::key_changes::KeyChangeSignals;

/// How long a confirmation of the feed lets this instance trust its cache.
pub const LEASE: Duration = Duration::from_secs(2);
/// Beyond a lease, for timer and scheduling delays, before a change is answered anyway.
const SLACK: Duration = Duration::from_millis(500);
/// How often this instance says it is alive when nothing changes.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// An instance not heard from for this long (on the database's clock) is not waited
/// for: its lease, which runs from before its last report, ran out before.
const GONE_MS: i64 = 4_000;
/// How often the feed is read without a wake-up (PostgreSQL wakes it on every change).
const POLL_SQLITE: Duration = Duration::from_millis(100);
const POLL_POSTGRES: Duration = Duration::from_millis(250);
/// Changes read per query (more than one: each read repeats the last change applied).
const BATCH: i64 = 500;
const _: () = assert!(BATCH > 1);
/// Entries kept at most; beyond, keys are verified in the database every time.
const MAX_ENTRIES: usize = 100_000;
/// How long an entry is kept at most, whatever the feed says: a backstop for changes
/// made outside the product (a database shell, a restored backup).
const MAX_AGE: Duration = Duration::from_secs(60);

/// What a key verified as: its row, and its account's limits with overrides applied.
#[derive(Debug)]
pub struct Verified {
    pub key: Key,
    pub limits: Limits,
}

/// Where this instance stands in the feed.
struct Feed {
    /// The last change applied to the cache.
    applied: i64,
    /// When the last successful report began (monotonic and wall clock), and what it
    /// reported.
    reported: Option<((Instant, i64), i64)>,
    /// When a failure was last logged.
    warned: Option<Instant>,
}

/// The cache of one instance.
pub struct KeyCache {
    store: Store,
    instance: String,
    /// Per key hash: when it was kept, and what it verified as.
    entries: RwLock<HashMap<String, (Instant, Arc<Verified>)>>,
    /// Moves on every drop: a fill that began before a drop is not kept.
    epoch: AtomicU64,
    /// Nanoseconds after `base`, and unix milliseconds, until which the cache may be
    /// used: both must hold (the first stops while the machine sleeps).
    usable_until: AtomicU64,
    usable_until_wall: AtomicI64,
    base: Instant,
    feed: Mutex<Feed>,
}

/// A fill in progress: the epoch it began in.
#[derive(Clone, Copy)]
pub struct Fill(u64);

impl KeyCache {
    /// Joins the feed (applying nothing older than now) and starts following it.
    pub async fn start(
        store: Store,
        database_url: &str,
    ) -> anyhow::Result<(Arc<KeyCache>, JoinHandle<()>)> {
        let applied = store.last_key_change().await?;
        let cache = Arc::new(KeyCache {
            instance: format!("inst_{}", uuid::Uuid::new_v4().simple()),
            entries: RwLock::default(),
            epoch: AtomicU64::new(0),
            usable_until: AtomicU64::new(0),
            usable_until_wall: AtomicI64::new(0),
            base: Instant::now(),
            feed: Mutex::new(Feed {
                applied,
                reported: None,
                warned: None,
            }),
            store,
        });
        cache.sync().await;
        let signals = cache.store.key_change_signals(database_url).await;
        let poll = if signals.is_some() {
            POLL_POSTGRES
        } else {
            POLL_SQLITE
        };
        let task = tokio::spawn(follow(cache.clone(), signals, poll));
        Ok((cache, task))
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn usable(&self) -> bool {
        self.nanos(Instant::now()) < self.usable_until.load(Ordering::Acquire)
            && now_ms() < self.usable_until_wall.load(Ordering::Acquire)
    }

    /// `live` while the feed is confirmed, else `catching_up` (keys are then verified in
    /// the database), for `/health`.
    pub fn status(&self) -> &'static str {
        if self.usable() { "live" } else { "catching_up" }
    }

    /// The key whose hash is `hash`, if cached and the cache may be trusted now.
    pub fn get(&self, hash: &str) -> Option<Arc<Verified>> {
        if !self.usable() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (kept, verified) = entries.get(hash)?;
        (kept.elapsed() < MAX_AGE).then(|| verified.clone())
    }

    /// Call before reading a key from the database, to [`KeyCache::keep`] it after.
    pub fn begin_fill(&self) -> Fill {
        Fill(self.epoch.load(Ordering::Acquire))
    }

    /// Keeps what a key verified as, unless entries were dropped since the fill began
    /// (what it read may be outdated) or the cache may not be trusted now.
    pub fn keep(&self, fill: Fill, hash: &str, verified: Arc<Verified>) {
        if !self.usable() || self.epoch.load(Ordering::Acquire) != fill.0 {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Drops bump the epoch under this lock: checked again, it is final.
        if self.epoch.load(Ordering::Acquire) != fill.0 {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (kept, _)| kept.elapsed() < MAX_AGE);
        }
        if entries.len() < MAX_ENTRIES || entries.contains_key(hash) {
            entries.insert(hash.to_owned(), (Instant::now(), verified));
        }
    }

    /// Drops the entries of `accounts` (all of them for `None`).
    fn drop_entries(&self, accounts: Option<&HashSet<&str>>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match accounts {
            None => entries.clear(),
            Some(accounts) => {
                entries.retain(|_, (_, v)| !accounts.contains(v.key.account_id.as_str()));
            }
        }
    }

    /// Applies the feed up to now and reports it; on success, extends the lease.
    async fn sync(&self) {
        let mut feed = self.feed.lock().await;
        let started = (Instant::now(), now_ms());
        loop {
            // From the last change applied, which the feed always keeps: if it is gone,
            // the feed was reset (a restored backup), and nothing cached can be trusted.
            let changes = match self.store.key_changes_from(feed.applied, BATCH).await {
                Ok(changes) => changes,
                Err(e) => return feed.failed("read", &e),
            };
            let full = changes.len() >= usize::try_from(BATCH).unwrap_or(usize::MAX);
            let new = match changes.first() {
                Some(first) if first.seq == feed.applied => &changes[1..],
                _ if feed.applied == 0 => &changes[..],
                _ => {
                    // The latest number first, then the drop: a fill that begins after
                    // the drop reads what every change up to that number left.
                    let last = match self.store.last_key_change().await {
                        Ok(last) => last,
                        Err(e) => return feed.failed("read", &e),
                    };
                    self.drop_entries(None);
                    feed.applied = last;
                    continue;
                }
            };
            if let Some(last) = new.last() {
                let accounts: HashSet<&str> = new.iter().map(|c| c.account_id.as_str()).collect();
                self.drop_entries(Some(&accounts));
                feed.applied = last.seq;
            }
            if !full {
                break;
            }
        }
        let due = feed
            .reported
            .is_none_or(|(at, seq)| seq != feed.applied || at.0.elapsed() >= HEARTBEAT);
        if due {
            if let Err(e) = self
                .store
                .report_applied(&self.instance, feed.applied)
                .await
            {
                return feed.failed("report to", &e);
            }
            feed.reported = Some((started, feed.applied));
        }
        // The lease runs from the last report, which began at this read or before it.
        let Some(((at, wall), _)) = feed.reported else {
            return;
        };
        self.usable_until
            .store(self.nanos(at + LEASE), Ordering::Release);
        let lease_ms = i64::try_from(LEASE.as_millis()).unwrap_or(i64::MAX);
        self.usable_until_wall
            .store(wall.saturating_add(lease_ms), Ordering::Release);
    }

    /// Waits, after a change this instance committed, until every instance has applied
    /// it (this one first) or no lease granted before it is left. Never fails: at worst
    /// it waits a lease.
    pub async fn settle(&self) {
        let deadline = Instant::now() + LEASE + SLACK;
        let _ = tokio::time::timeout_at(deadline.into(), self.sync()).await;
        all_applied_by(&self.store, deadline).await;
    }

    /// Leaves the feed at shutdown, so that no change waits for this instance.
    pub async fn leave(&self) {
        if let Err(e) = self.store.forget_instance(&self.instance).await {
            tracing::warn!(error = %e, "could not leave the key-change feed");
        }
    }
}

impl Feed {
    fn failed(&mut self, what: &str, error: &crate::store::StoreError) {
        if self
            .warned
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60))
        {
            self.warned = Some(Instant::now());
            tracing::warn!(%error, "cannot {what} the key-change feed: verifying keys in the database until it answers");
        }
    }
}

/// Returns once every instance heard from lately has applied the latest change, or at
/// `deadline` (also when the store cannot tell).
async fn all_applied_by(store: &Store, deadline: Instant) {
    let applied = async {
        let Ok(target) = store.last_key_change().await else {
            return std::future::pending().await;
        };
        while !matches!(store.instances_behind(target, GONE_MS).await, Ok(0)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let _ = tokio::time::timeout_at(deadline.into(), applied).await;
}

/// A change made by a command that holds no cache (`thinnest limits`): waits until the
/// running instances have applied it, or no lease granted before it is left.
pub async fn wait_for_running_instances(store: &Store) {
    all_applied_by(store, Instant::now() + LEASE + SLACK).await;
}

/// Follows the feed: on every wake-up, and at least every `poll`.
async fn follow(cache: Arc<KeyCache>, mut signals: Option<KeyChangeSignals>, poll: Duration) {
    loop {
        match &mut signals {
            Some(signals) => {
                tokio::select! {
                    woke = signals.next() => if woke.is_err() {
                        // Lost the connection: reconnects at the next call; polls meanwhile.
                        tokio::time::sleep(poll).await;
                    },
                    () = tokio::time::sleep(poll) => {}
                }
            }
            None => tokio::time::sleep(poll).await,
        }
        cache.sync().await;
    }
}
