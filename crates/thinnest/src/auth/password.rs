//! Passwords: a policy check, then Argon2id with the OWASP parameters (19 MiB,
//! 2 passes, 1 lane), computed on the blocking pool, never on the async workers,
//! and never more at once than the machine has cores: past that, a request waits
//! its turn briefly, and past a short queue it is told to come back.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::Semaphore;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// The 10,000 most common passwords, shipped in the repository.
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect()
});

/// A password as typed. No Debug or Display shows it.
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    pub fn new(text: String) -> Password {
        Password(text)
    }

    /// Why this password may not be chosen, if it may not: 8 to 1024 characters,
    /// no composition rules, not one of the 10,000 most common.
    pub fn problem(&self) -> Option<&'static str> {
        let len = self.0.chars().count();
        if len < 8 {
            Some("must be at least 8 characters")
        } else if len > 1024 {
            Some("must be at most 1024 characters")
        } else if COMMON.contains(self.0.to_lowercase().as_str()) {
            Some("is one of the most common passwords; choose another")
        } else {
            None
        }
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a hash was not computed. (Not an `std::error::Error`, so that each front
/// end decides what `Busy` looks like rather than burying it in an internal error.)
#[derive(Debug)]
pub enum HashError {
    /// Every hasher is busy and the queue is full, or the wait ran out: retry soon.
    Busy,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for HashError {
    fn from(e: anyhow::Error) -> Self {
        HashError::Failed(e)
    }
}

/// How long a request may wait for a hasher before it is told to retry.
const WAIT: Duration = Duration::from_secs(2);
/// Requests that may wait, per hasher; past it, [`HashError::Busy`] at once.
const QUEUE_PER_HASHER: usize = 32;

/// A place in the queue for a hasher, given up when dropped: also when the request
/// waiting in it goes away.
struct InQueue<'a>(&'a AtomicUsize);

impl<'a> InQueue<'a> {
    fn join(waiting: &'a AtomicUsize, queue: usize) -> Option<InQueue<'a>> {
        let place = InQueue(waiting);
        (waiting.fetch_add(1, Ordering::AcqRel) < queue).then_some(place)
    }
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Argon2id behind a bound: at most `hashers` hashes at once (so at most that many
/// cores and × 19 MiB), and a short queue in front of them.
pub struct Hasher {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
}

impl Hasher {
    /// One hasher per core of this machine.
    pub fn per_core() -> Hasher {
        Hasher::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    pub fn new(hashers: usize) -> Hasher {
        Hasher {
            permits: Arc::new(Semaphore::new(hashers.max(1))),
            waiting: AtomicUsize::new(0),
            queue: hashers.max(1) * QUEUE_PER_HASHER,
        }
    }

    /// Runs `work` on the blocking pool once a hasher is free. The permit travels
    /// with the work, so a request that goes away does not free a hasher still busy.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let place = InQueue::join(&self.waiting, self.queue).ok_or(HashError::Busy)?;
        let permit = tokio::time::timeout(WAIT, self.permits.clone().acquire_owned()).await;
        drop(place);
        let permit = permit
            .map_err(|_| HashError::Busy)?
            .map_err(|e| HashError::Failed(e.into()))?;
        let done = tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await
        .map_err(|e| HashError::Failed(e.into()))?;
        Ok(done?)
    }

    /// The PHC string of the password's Argon2id hash, with a fresh salt.
    pub async fn hash(&self, password: Password) -> Result<String, HashError> {
        self.run(move || {
            argon2()
                .hash_password(password.0.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("cannot hash a password: {e}"))
        })
        .await
    }

    /// Whether the password matches the stored PHC string. Without one, the same work
    /// is done against a dummy hash, so that both answers take as long.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        static DUMMY: LazyLock<String> = LazyLock::new(|| {
            argon2()
                .hash_password(b"not anybody's password")
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| DUMMY.clone());
            let matches = argon2()
                .verify_password(password.0.as_bytes(), phc.as_str())
                .is_ok();
            Ok(known && matches)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_wants_length_and_refuses_common_passwords() {
        let problem = |p: &str| Password::new(p.to_owned()).problem();
        assert!(problem("short").is_some());
        assert!(problem("password1").is_some(), "common");
        assert!(problem("PASSWORD1").is_some(), "common in any case");
        assert!(problem("correct horse battery staple").is_none());
        assert!(problem(&"x".repeat(1025)).is_some());
        assert!(problem(&"é".repeat(8)).is_none(), "characters, not bytes");
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hasher = Hasher::new(1);
        let phc = hasher
            .hash(Password::new("tunnel-lamp-orbit".into()))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let check =
            |p: &str, stored: Option<String>| hasher.verify(Password::new(p.into()), stored);
        assert!(check("tunnel-lamp-orbit", Some(phc.clone())).await.unwrap());
        assert!(!check("tunnel-lamp-orbiT", Some(phc)).await.unwrap());
        assert!(!check("anything", None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_hashers_and_their_queue_a_hash_is_refused_not_queued() {
        let hasher = Arc::new(Hasher::new(1));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        // Ten hashes at once against one hasher with a queue of 32: all run, one at a time.
        let jobs = (0..10).map(|_| {
            let (hasher, running, most) = (hasher.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                hasher
                    .run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            })
        });
        for job in futures_util::future::join_all(jobs).await {
            assert!(job.unwrap().is_ok());
        }
        assert_eq!(most.load(Ordering::SeqCst), 1, "never two hashes at once");

        // A request that cannot get a hasher in time is told to retry.
        let held = hasher.permits.clone().acquire_owned().await.unwrap();
        let waited = hasher.run(|| Ok(())).await;
        assert!(matches!(waited, Err(HashError::Busy)), "{waited:?}");
        // A request that goes away while it waits gives its place back.
        let gone = tokio::time::timeout(Duration::from_millis(50), hasher.run(|| Ok(()))).await;
        assert!(gone.is_err(), "it was still waiting");
        assert_eq!(hasher.waiting.load(Ordering::SeqCst), 0, "no place is lost");
        drop(held);

        // With the queue full, the next request is turned away at once.
        hasher.waiting.store(hasher.queue, Ordering::SeqCst);
        let refused = hasher.run(|| Ok(())).await;
        assert!(matches!(refused, Err(HashError::Busy)), "{refused:?}");
    }
}
