//! The dispatcher: claims due deliveries from the outbox with a lease, signs and sends
//! them, and settles each attempt: success, a retry after a back-off (or the
//! receiver's `Retry-After`), failure, or disabling the endpoint.
//!
//! Every instance runs one (unless `--webhook-concurrency 0`). A delivery is sent
//! at least once: a crash mid-attempt leaves a lease that runs out, and another
//! attempt follows with the same event id. Leases outlast the attempt timeout, so
//! no two instances send one delivery at the same time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::domain::ids::AttemptId;
use crate::domain::roles::Role;
use crate::domain::time::now_ms;
use crate::services::webhooks::{SigningSecrets, signing_secrets};
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::outbox::{AttemptRecord, Claimed, DueEndpoint, Outcome};
use crate::webhooks::client::{Answer, DeliveryClient};

/// How long a claimed delivery stays with its claim: well beyond one attempt (10 s)
/// and the database waits around it.
const LEASE: Duration = Duration::from_secs(60);
/// How long a task keeps sending to one endpoint before it makes room for others.
const RUN_TIME: Duration = Duration::from_secs(1);
/// When the server could not open the signing secret, when to try again.
const OWN_FAULT_WAIT: Duration = Duration::from_secs(60);
/// When the database could not give the signing secret, when to try again.
const DATABASE_WAIT: Duration = Duration::from_secs(5);
/// The waits before settling an attempt again when the database failed to record it:
/// a delivery left unsettled waits out its lease, then is sent again.
const SETTLE_RETRIES: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];
/// How often to look for work that another instance queued or that came due.
const POLL: Duration = Duration::from_secs(1);
/// Endpoints considered per round.
const ENDPOINTS_PER_ROUND: i64 = 200;
/// Deliveries one task sends to its endpoint in a row before it makes room for others.
const RUN: usize = 100;

struct Dispatcher {
    state: AppState,
    client: DeliveryClient,
    permits: Arc<Semaphore>,
    per_endpoint: usize,
    /// Deliveries in flight per endpoint.
    in_flight: Mutex<HashMap<String, usize>>,
}

/// Starts this instance's dispatcher, unless it is configured to send nothing.
pub fn start(state: AppState) -> anyhow::Result<Option<JoinHandle<()>>> {
    let config = &state.config.webhooks;
    let concurrency = usize::try_from(config.webhook_concurrency)?;
    if concurrency == 0 {
        return Ok(None);
    }
    let dispatcher = Arc::new(Dispatcher {
        client: DeliveryClient::new(config.allow_private_webhook_targets)?,
        permits: Arc::new(Semaphore::new(concurrency)),
        per_endpoint: usize::try_from(config.webhook_endpoint_concurrency)?,
        in_flight: Mutex::default(),
        state,
    });
    Ok(Some(tokio::spawn(dispatcher.run())))
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Dispatcher {
    async fn run(self: Arc<Self>) {
        let store = self.state.store.clone();
        loop {
            let claimed = match self.round().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim webhook deliveries");
                    0
                }
            };
            if claimed > 0 {
                continue;
            }
            tokio::select! {
                () = store.dispatcher_woken() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    fn busy(&self, endpoint_id: &str) -> usize {
        self.in_flight
            .lock()
            .map_or(usize::MAX, |m| m.get(endpoint_id).copied().unwrap_or(0))
    }

    fn track(&self, endpoint_id: &str, started: bool) {
        if let Ok(mut map) = self.in_flight.lock() {
            let n = map.entry(endpoint_id.to_owned()).or_default();
            if started {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    map.remove(endpoint_id);
                }
            }
        }
    }

    /// Claims what this instance has room for, endpoint by endpoint; returns how many.
    async fn round(self: &Arc<Self>) -> anyhow::Result<usize> {
        if self.permits.available_permits() == 0 {
            return Ok(0);
        }
        let store = &self.state.store;
        let mut due = store.due_endpoints(now_ms(), ENDPOINTS_PER_ROUND).await?;
        // Endpoints nothing is being sent to come first, so that busy ones (slow ones
        // above all) cannot take every free slot.
        due.sort_by_key(|e| self.busy(&e.endpoint_id));
        let mut claimed = 0;
        for endpoint in due {
            let free = self.permits.available_permits();
            if free == 0 {
                break;
            }
            let room = self
                .per_endpoint
                .saturating_sub(self.busy(&endpoint.endpoint_id))
                .min(free);
            if room == 0 {
                continue;
            }
            let rows = store
                .claim_deliveries(&endpoint.endpoint_id, LEASE, i64::try_from(room)?)
                .await?;
            let endpoint = Arc::new(endpoint);
            for row in rows {
                let permit = self.permits.clone().try_acquire_owned()?;
                self.track(&endpoint.endpoint_id, true);
                claimed += 1;
                tokio::spawn(self.clone().deliver(endpoint.clone(), row, permit));
            }
        }
        Ok(claimed)
    }

    /// Sends a run of deliveries to the endpoint, then gives back its slot.
    async fn deliver(
        self: Arc<Self>,
        endpoint: Arc<DueEndpoint>,
        delivery: Claimed,
        permit: OwnedSemaphorePermit,
    ) {
        self.send_run(&endpoint, delivery).await;
        self.track(&endpoint.endpoint_id, false);
        drop(permit);
        self.state.store.wake_dispatcher();
    }

    /// Sends a claimed delivery, then, while the endpoint answers 2xx and for up to
    /// [`RUN`] deliveries or [`RUN_TIME`], its next due one, so that a backlog drains
    /// without a search per delivery.
    async fn send_run(&self, endpoint: &DueEndpoint, first: Claimed) {
        let started = std::time::Instant::now();
        // Opened once per run (a second at most): a rotation shows from the next run.
        let secrets = match signing_secrets(&self.state, &endpoint.account_id).await {
            Ok(secrets) => secrets,
            Err(e) => {
                // The server's fault (a wrong encryption key, the database): it does not
                // count against the endpoint.
                tracing::error!(error = %format!("{e:#}"), "cannot open an account's signing secret");
                let wait = match e.downcast_ref::<StoreError>() {
                    Some(StoreError::Database(_)) => DATABASE_WAIT,
                    _ => OWN_FAULT_WAIT,
                };
                let at = now_ms() + ms(wait);
                let released = self
                    .state
                    .store
                    .release_delivery(&first.id, &first.lease, at)
                    .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "could not release a webhook delivery");
                }
                return;
            }
        };
        let mut delivery = first;
        let mut sent = 0;
        loop {
            match self.attempt(endpoint, &delivery, &secrets).await {
                Ok(true) => sent += 1,
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), delivery = %delivery.id, "a webhook attempt could not be recorded");
                    return;
                }
            }
            if sent >= RUN || started.elapsed() >= RUN_TIME {
                return;
            }
            match self.claim_one(&endpoint.endpoint_id).await {
                Some(next) => delivery = next,
                None => return,
            }
        }
    }

    async fn claim_one(&self, endpoint_id: &str) -> Option<Claimed> {
        let claimed = self
            .state
            .store
            .claim_deliveries(endpoint_id, LEASE, 1)
            .await;
        match claimed {
            Ok(mut rows) => rows.pop(),
            Err(e) => {
                tracing::warn!(error = %e, "could not claim webhook deliveries");
                None
            }
        }
    }

    /// Makes one attempt and settles it; true when the endpoint answered 2xx.
    async fn attempt(
        &self,
        endpoint: &DueEndpoint,
        delivery: &Claimed,
        secrets: &SigningSecrets,
    ) -> anyhow::Result<bool> {
        let state = &self.state;
        let attempted_at = now_ms();
        let headers = signed_headers(delivery, secrets, attempted_at / 1000)?;
        let answer = self
            .client
            .post(&delivery.url, headers.clone(), delivery.payload.clone())
            .await;
        let succeeded = matches!(answer.status, Some(200..=299));
        // A 410 says the endpoint is gone: it is disabled and its delivery not retried.
        let gone = answer.status == Some(410);
        let outcome = match (succeeded, gone) {
            (true, _) => Outcome::Succeeded,
            (false, true) => Outcome::Failed,
            (false, false) => match self.retry_at(delivery.attempts, &answer) {
                Some(at) => Outcome::Retry { at },
                None => Outcome::Failed,
            },
        };
        let header_log: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().into()))
            .collect();
        let id = AttemptId::new();
        let record = AttemptRecord {
            id: &id,
            attempted_at,
            request_headers: &serde_json::Value::Object(header_log).to_string(),
            response_status: answer.status,
            response_body: answer.body.as_deref(),
            error: answer.error.as_deref(),
            latency_ms: answer.latency_ms,
            streak_from: attempted_at - ms(self.streak_gap()),
            // The receiver asked for a pause: its other deliveries wait too.
            paused_until: answer.retry_after.map(|wait| attempted_at + ms(wait)),
        };
        let limit = state.config.webhooks.webhook_disable_after;
        let disable = |failing_since: i64| match gone {
            true => Some("The endpoint answered 410 Gone.".to_owned()),
            false => (attempted_at - failing_since >= ms(limit)).then(|| {
                format!(
                    "Every delivery failed for {} hours.",
                    limit.as_secs().div_ceil(3600)
                )
            }),
        };
        let mut retries = SETTLE_RETRIES.iter();
        let disabled = loop {
            let settled = state
                .store
                .finish_attempt(&delivery.id, &delivery.lease, &record, outcome, &disable)
                .await;
            match (settled, retries.next()) {
                (Ok(disabled), _) => break disabled,
                (Err(e), Some(wait)) => {
                    tracing::warn!(error = %e, delivery = %delivery.id, "settling a webhook attempt failed; trying again");
                    tokio::time::sleep(*wait).await;
                }
                (Err(e), None) => return Err(e.into()),
            }
        };
        if let Some(reason) = disabled {
            tell_admins(state, endpoint, &delivery.url, &reason).await?;
        }
        Ok(succeeded)
    }

    /// When to try again after the attempt numbered `attempts_before + 1` failed: after
    /// the scheduled back-off, or the receiver's `Retry-After` if that is longer.
    fn retry_at(&self, attempts_before: i64, answer: &Answer) -> Option<i64> {
        let delays = &self.state.config.webhooks.webhook_retry_delays;
        let delay = jitter(*delays.get(usize::try_from(attempts_before).ok()?)?);
        let wait = answer.retry_after.map_or(delay, |asked| asked.max(delay));
        Some(now_ms() + ms(wait))
    }

    /// How long after a failure the next one still continues a failing streak: beyond
    /// the longest back-off with its jitter, and at least an hour. Failures further
    /// apart (a delivery gave up, then nothing was sent for days) start a new streak.
    fn streak_gap(&self) -> Duration {
        let delays = &self.state.config.webhooks.webhook_retry_delays;
        let longest = delays.iter().max().copied().unwrap_or_default();
        longest.mul_f64(1.5).max(Duration::from_secs(3600)) + LEASE
    }
}

/// `delay` varied by up to 10% either way, so that retries spread out.
fn jitter(delay: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let r =
        getrandom::fill(&mut byte).map_or(0.5, |()| f64::from(u16::from_le_bytes(byte)) / 65_535.0);
    delay.mul_f64(0.9 + 0.2 * r)
}

/// The headers of one attempt: the page's hex signature by the current secret, and
/// the Standard Webhooks signature by every secret valid now.
fn signed_headers(
    delivery: &Claimed,
    secrets: &SigningSecrets,
    timestamp: i64,
) -> anyhow::Result<HeaderMap> {
    let body = delivery.payload.as_bytes();
    let current = secrets.current.expose();
    let mut standard = vec![
        thinnestai::sign_standard(current, &delivery.event_id, timestamp, body)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    ];
    if let Some((previous, _)) = &secrets.previous {
        standard.push(
            thinnestai::sign_standard(previous.expose(), &delivery.event_id, timestamp, body)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    let pairs = [
        (CONTENT_TYPE.as_str(), "application/json".to_owned()),
        (
            "x-thinnestai-signature",
            format!("sha256={}", thinnestai::sign_hex(current, body)),
        ),
        ("x-thinnestai-event", delivery.event_type.clone()),
        ("x-thinnestai-delivery", delivery.id.clone()),
        ("x-thinnestai-timestamp", timestamp.to_string()),
        ("webhook-id", delivery.event_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", standard.join(" ")),
    ];
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value)?,
        );
    }
    Ok(headers)
}

/// Emails the account's Admins that an endpoint was disabled, and why.
async fn tell_admins(
    state: &AppState,
    endpoint: &DueEndpoint,
    url: &str,
    reason: &str,
) -> anyhow::Result<()> {
    tracing::warn!(endpoint = %endpoint.endpoint_id, reason, "disabled a webhook endpoint");
    let text = format!(
        "The webhook endpoint {} ({}) was disabled: {reason}\n\nDeliveries for it wait until you \
         enable it again:\n{}/app/settings/webhooks\n",
        endpoint.endpoint_id,
        url,
        state.link_base()
    );
    for member in state.store.members(&endpoint.account_id).await? {
        if member.role == Role::Admin {
            crate::services::mail::send_mail(
                state,
                crate::services::mail::MailCause::Notice,
                &member.email,
                "A webhook endpoint was disabled",
                text.clone(),
            )
            .await;
        }
    }
    Ok(())
}
