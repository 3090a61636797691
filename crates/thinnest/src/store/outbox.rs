//! The webhook outbox: events queued in the transaction of their change, and the
//! deliveries that dispatchers on any instance claim with a lease.

use super::{Backend, Store};
use super::{StoreError, StoreResult};
use crate::domain::events::Event;
use crate::domain::ids::{AttemptId, DeliveryId, EventId, LeaseId};
use crate::domain::time::{now_ms, rfc3339};

/// Which endpoints an event goes to.
pub enum Audience<'a> {
    /// Every enabled endpoint of the account subscribed to the event's type.
    Subscribers,
    /// This endpoint only, whatever it subscribes to (a test event).
    Endpoint(&'a str),
}

/// Queues `event` for its subscribers in the caller's transaction; see [`emit`].
pub async fn publish(
    tx: &mut sqlx::AnyConnection,
    account_id: &str,
    event: &Event,
) -> StoreResult<()> {
    emit(tx, account_id, event, Audience::Subscribers).await?;
    Ok(())
}

/// Queues `event` in the caller's transaction: one event row and one delivery per
/// endpoint that wants it. Nothing is written when no endpoint wants it.
/// Returns the event id and the number of deliveries queued.
pub async fn emit(
    tx: &mut sqlx::AnyConnection,
    account_id: &str,
    event: &Event,
    audience: Audience<'_>,
) -> StoreResult<(String, usize)> {
    let id = String::from(EventId::new());
    let now = now_ms();
    let (kind, body) = event
        .body(&id, account_id, &rfc3339(now))
        .map_err(|e| StoreError::Unreadable(format!("cannot serialise an event: {e}")))?;
    let endpoints: Vec<String> = match audience {
        Audience::Endpoint(endpoint_id) => vec![endpoint_id.to_owned()],
        Audience::Subscribers => {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT id, events FROM webhook_endpoints WHERE account_id = $1 AND enabled = 1",
            )
            .bind(account_id)
            .fetch_all(&mut *tx)
            .await?;
            rows.into_iter()
                .filter(|(_, events)| {
                    serde_json::from_str::<Vec<String>>(events)
                        .unwrap_or_default()
                        .iter()
                        .any(|e| e == "*" || *e == kind)
                })
                .map(|(id, _)| id)
                .collect()
        }
    };
    if endpoints.is_empty() {
        return Ok((id, 0));
    }
    sqlx::query(
        "INSERT INTO webhook_events (id, account_id, type, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(&kind)
    .bind(&body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    for endpoint_id in &endpoints {
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, account_id, endpoint_id, event_id, status, attempts, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(String::from(DeliveryId::new()))
        .bind(account_id)
        .bind(endpoint_id)
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok((id, endpoints.len()))
}

/// An endpoint with deliveries due now.
#[derive(Debug, sqlx::FromRow)]
pub struct DueEndpoint {
    pub endpoint_id: String,
    pub account_id: String,
}

/// A delivery claimed for one attempt, with what it sends and where.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    pub id: String,
    /// This claim's lease: only its holder settles the attempt.
    pub lease: String,
    /// The endpoint's URL at the time of the claim.
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// One attempt as it went, and what it tells about its endpoint.
pub struct AttemptRecord<'a> {
    /// Chosen by the caller, so that settling the same attempt again (after an error
    /// that left unknown whether the first try committed) logs it once.
    pub id: &'a AttemptId,
    pub attempted_at: i64,
    pub request_headers: &'a str,
    pub response_status: Option<u16>,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
    pub latency_ms: i64,
    /// The endpoint's last failure continues its failing streak if it came at this
    /// time or later; an older one means this failure starts a new streak.
    pub streak_from: i64,
    /// The endpoint asked for a pause (`Retry-After`): nothing is sent to it before
    /// this time.
    pub paused_until: Option<i64>,
}

/// What follows an attempt.
#[derive(Clone, Copy)]
pub enum Outcome {
    Succeeded,
    /// Try again at this time.
    Retry {
        at: i64,
    },
    /// No more attempts.
    Failed,
}

/// Deliveries due at `$1`, not leased, to an enabled endpoint `w` that is not paused.
const DUE: &str = "d.status = 'pending' AND d.next_attempt_at <= $1 \
     AND (d.lease_until IS NULL OR d.lease_until <= $1) \
     AND w.enabled = 1 AND (w.paused_until IS NULL OR w.paused_until <= $1)";

impl Store {
    /// Commits a transaction that may have queued events, and wakes the dispatcher.
    pub async fn commit_events(&self, tx: sqlx::Transaction<'_, sqlx::Any>) -> StoreResult<()> {
        tx.commit().await?;
        self.wake_dispatcher();
        Ok(())
    }

    /// Wakes this instance's dispatcher: something was queued or came due.
    pub fn wake_dispatcher(&self) {
        self.outbox.notify_one();
    }

    /// Resolves when [`Store::wake_dispatcher`] was called since the last time.
    pub async fn dispatcher_woken(&self) {
        self.outbox.notified().await;
    }

    /// Endpoints, enabled and not paused, with deliveries due and not leased, the
    /// longest waiting first.
    pub async fn due_endpoints(&self, now: i64, limit: i64) -> StoreResult<Vec<DueEndpoint>> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT d.endpoint_id, w.account_id FROM webhook_deliveries d \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE {DUE} \
             GROUP BY d.endpoint_id, w.account_id ORDER BY MIN(d.next_attempt_at) LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Leases up to `n` due deliveries of one enabled endpoint for `lease`, under a new
    /// token per claim. A row leased elsewhere is skipped (PostgreSQL: `SKIP LOCKED`)
    /// and, should two claims still meet, the second finds the lease taken.
    pub async fn claim_deliveries(
        &self,
        endpoint_id: &str,
        lease: std::time::Duration,
        n: i64,
    ) -> StoreResult<Vec<Claimed>> {
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE OF d SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let token = String::from(LeaseId::new());
        let now = now_ms();
        let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let mut tx = self.pool().begin().await?;
        // The rows are chosen once, in a materialised CTE. Inside `IN (…)`, PostgreSQL may
        // run the subquery again for each row it updates (a nested-loop plan), and each
        // run skips the rows this statement already updated: then `LIMIT` bounds nothing
        // and one claim takes every due delivery, past the endpoint's concurrency.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH chosen AS MATERIALIZED ( \
               SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
               WHERE d.endpoint_id = $4 AND {DUE} \
               ORDER BY d.next_attempt_at, d.id LIMIT $5 {lock}) \
             UPDATE webhook_deliveries SET lease_owner = $2, lease_until = $3 \
             WHERE id IN (SELECT id FROM chosen) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $1)"
        )))
        .bind(now)
        .bind(&token)
        .bind(lease_until)
        .bind(endpoint_id)
        .bind(n)
        .execute(&mut *tx)
        .await?;
        // The token is this claim's own: what holds it is what was claimed.
        let claimed = sqlx::query_as(
            "SELECT d.id, d.lease_owner AS lease, w.url, d.event_id, e.type AS event_type, \
             e.payload, d.attempts FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.lease_owner = $1 \
             ORDER BY d.next_attempt_at, d.id",
        )
        .bind(&token)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Gives a claimed delivery back untried, to be tried at `at`: the server, not the
    /// endpoint, could not make the attempt.
    pub async fn release_delivery(&self, id: &str, lease: &str, at: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL, next_attempt_at = $3 \
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(lease)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Logs an attempt and settles what follows, if its claim still holds the lease.
    /// After a failure, `disable` is asked, with the start of the endpoint's failing
    /// streak, whether to disable the endpoint and why. Returns that reason when this
    /// attempt disabled it, so that its Admins are told once, whichever instance made
    /// the attempt.
    pub async fn finish_attempt(
        &self,
        delivery_id: &str,
        lease: &str,
        attempt: &AttemptRecord<'_>,
        outcome: Outcome,
        disable: impl FnOnce(i64) -> Option<String>,
    ) -> StoreResult<Option<String>> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (id, delivery_id, attempted_at, request_headers, \
             response_status, response_body, error, latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(attempt.id.to_string())
        .bind(delivery_id)
        .bind(attempt.attempted_at)
        .bind(attempt.request_headers)
        .bind(attempt.response_status.map(i64::from))
        .bind(attempt.response_body)
        .bind(attempt.error)
        .bind(attempt.latency_ms)
        .execute(&mut *tx)
        .await?;
        let (status, next, completed) = match outcome {
            Outcome::Succeeded => ("succeeded", now, Some(now)),
            Outcome::Retry { at } => ("pending", at, None),
            Outcome::Failed => ("failed", now, Some(now)),
        };
        let endpoint: Option<(String,)> = sqlx::query_as(
            "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4, \
             completed_at = $5, last_status = $6, last_error = $7, lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 RETURNING endpoint_id",
        )
        .bind(delivery_id)
        .bind(lease)
        .bind(status)
        .bind(next)
        .bind(completed)
        .bind(attempt.response_status.map(i64::from))
        .bind(attempt.error)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((endpoint_id,)) = endpoint else {
            // The lease ran out and another instance took the delivery over.
            tx.commit().await?;
            return Ok(None);
        };
        if let Outcome::Succeeded = outcome {
            sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1")
                .bind(&endpoint_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(None);
        }
        // A failure continues the streak if the last one came at `streak_from` or
        // later, and starts a new one otherwise.
        let (since,): (i64,) = sqlx::query_as(
            "UPDATE webhook_endpoints SET failing_since = CASE WHEN failing_since IS NULL \
             OR last_failed_at IS NULL OR last_failed_at < $3 THEN $2 ELSE failing_since END, \
             last_failed_at = $2, paused_until = COALESCE($4, paused_until) \
             WHERE id = $1 RETURNING failing_since",
        )
        .bind(&endpoint_id)
        .bind(attempt.attempted_at)
        .bind(attempt.streak_from)
        .bind(attempt.paused_until)
        .fetch_one(&mut *tx)
        .await?;
        let mut disabled = None;
        if let Some(reason) = disable(since) {
            let done = sqlx::query(
                "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $2, updated_at = $3 \
                 WHERE id = $1 AND enabled = 1",
            )
            .bind(&endpoint_id)
            .bind(&reason)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            disabled = (done.rows_affected() == 1).then_some(reason);
        }
        tx.commit().await?;
        Ok(disabled)
    }
}
