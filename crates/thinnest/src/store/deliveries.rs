//! The delivery log of the webhook outbox: an endpoint's deliveries with their
//! bodies and attempts, redelivery, and test events.

use super::outbox::{Audience, emit};
use super::{Store, StoreResult};
use crate::domain::deliveries::{Attempt, Delivery, LoggedAttempt, LoggedDelivery};
use crate::domain::events::Event;
use crate::domain::time::{now_ms, rfc3339};

/// A delivery as stored, with its event's type and body.
#[derive(Debug, sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    completed_at: Option<i64>,
    /// The exact body it sends.
    payload: String,
}

#[derive(Debug, sqlx::FromRow)]
struct AttemptRow {
    delivery_id: String,
    attempted_at: i64,
    request_headers: String,
    response_status: Option<i64>,
    response_body: Option<String>,
    error: Option<String>,
    latency_ms: i64,
}

impl From<DeliveryRow> for LoggedDelivery {
    fn from(row: DeliveryRow) -> Self {
        let delivery = Delivery {
            next_attempt_at: (row.status == "pending").then(|| rfc3339(row.next_attempt_at)),
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_id: row.event_id,
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
            created_at: rfc3339(row.created_at),
            completed_at: row.completed_at.map(rfc3339),
        };
        LoggedDelivery {
            delivery,
            payload: row.payload,
        }
    }
}

impl From<AttemptRow> for LoggedAttempt {
    fn from(row: AttemptRow) -> Self {
        let attempt = Attempt {
            attempted_at: rfc3339(row.attempted_at),
            request_headers: serde_json::from_str(&row.request_headers).unwrap_or_default(),
            response_status: row.response_status,
            response_body: row.response_body,
            error: row.error,
            latency_ms: row.latency_ms,
        };
        LoggedAttempt {
            delivery_id: row.delivery_id,
            attempt,
        }
    }
}

/// What a request to redeliver found.
#[derive(Debug)]
pub enum Redelivery {
    /// Queued again; the delivery as it now stands.
    Queued(Box<Delivery>),
    /// An attempt is being made right now.
    InFlight,
    NotFound,
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.event_id, e.type AS event_type, d.status, \
     d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.completed_at, e.payload";
const ATTEMPT_COLUMNS: &str = "delivery_id, attempted_at, request_headers, response_status, \
     response_body, error, latency_ms";

impl Store {
    /// An endpoint's deliveries, newest first; `before` is the last id of the previous page.
    pub async fn webhook_deliveries(
        &self,
        account_id: &str,
        endpoint_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<LoggedDelivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.account_id = $1 AND d.endpoint_id = $2 AND ($3 = '' OR d.id < $3) \
             ORDER BY d.id DESC LIMIT $4"
        )))
        .bind(account_id)
        .bind(endpoint_id)
        .bind(before.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(LoggedDelivery::from).collect())
    }

    /// One delivery with the body it sends.
    pub async fn webhook_delivery(
        &self,
        account_id: &str,
        endpoint_id: &str,
        id: &str,
    ) -> StoreResult<Option<LoggedDelivery>> {
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.account_id = $1 AND d.endpoint_id = $2 AND d.id = $3"
        )))
        .bind(account_id)
        .bind(endpoint_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(LoggedDelivery::from))
    }

    /// The attempts of a delivery, oldest first.
    pub async fn webhook_attempts(&self, delivery_id: &str) -> StoreResult<Vec<Attempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempted_at, id"
        )))
        .bind(delivery_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| LoggedAttempt::from(row).attempt)
            .collect())
    }

    /// The attempts of an endpoint's `limit` newest deliveries (the first page of
    /// [`Store::webhook_deliveries`]), oldest first, in one query.
    pub async fn recent_webhook_attempts(
        &self,
        account_id: &str,
        endpoint_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<LoggedAttempt>> {
        let rows: Vec<AttemptRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE delivery_id IN ( \
               SELECT id FROM webhook_deliveries WHERE account_id = $1 AND endpoint_id = $2 \
               ORDER BY id DESC LIMIT $3) ORDER BY attempted_at, id"
        )))
        .bind(account_id)
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(LoggedAttempt::from).collect())
    }

    /// Sends a delivery again now, whatever became of it, unless an attempt is under way.
    pub async fn redeliver(
        &self,
        account_id: &str,
        endpoint_id: &str,
        id: &str,
    ) -> StoreResult<Redelivery> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $4, completed_at = NULL \
             WHERE account_id = $1 AND endpoint_id = $2 AND id = $3 \
             AND (lease_until IS NULL OR lease_until <= $4)",
        )
        .bind(account_id)
        .bind(endpoint_id)
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await?;
        let row = self.webhook_delivery(account_id, endpoint_id, id).await?;
        Ok(match (done.rows_affected() == 1, row) {
            (true, Some(row)) => {
                self.wake_dispatcher();
                Redelivery::Queued(Box::new(row.delivery))
            }
            (_, Some(_)) => Redelivery::InFlight,
            (_, None) => Redelivery::NotFound,
        })
    }

    /// Queues a `webhook.test` event to one endpoint; returns the delivery.
    pub async fn queue_test_event(
        &self,
        account_id: &str,
        endpoint_id: &str,
        event: &Event,
    ) -> StoreResult<Option<Delivery>> {
        let mut tx = self.pool().begin().await?;
        let (event_id, _) =
            emit(&mut tx, account_id, event, Audience::Endpoint(endpoint_id)).await?;
        self.commit_events(tx).await?;
        let row: Option<DeliveryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.event_id = $1"
        )))
        .bind(&event_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| LoggedDelivery::from(row).delivery))
    }
}
