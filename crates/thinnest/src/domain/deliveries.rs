//! Webhook deliveries as the product shows them: each delivery of an event to an
//! endpoint, the body it sends, and its attempts.

use serde::Serialize;
use utoipa::ToSchema;

/// One delivery of an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    /// `whd_…`, sent as `X-ThinnestAI-Delivery`.
    pub id: String,
    pub endpoint_id: String,
    /// `evt_…`, the body's `id` and the `webhook-id` header; the same on every attempt.
    pub event_id: String,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed` (no attempts left, or the endpoint answered 410).
    pub status: String,
    pub attempts: i64,
    /// When a pending delivery is next tried.
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the latest attempt, if an answer came.
    pub last_status: Option<i64>,
    /// Why the latest attempt got no answer.
    pub last_error: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// One attempt: the request's headers and what came back.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attempt {
    pub attempted_at: String,
    /// The headers sent, signatures included (never the secret).
    pub request_headers: serde_json::Value,
    /// Null when no answer came.
    pub response_status: Option<i64>,
    /// The first 2 KiB of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

/// A delivery with the body it sends and every attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: Delivery,
    /// The exact body sent, as text.
    pub request_body: String,
    pub attempt_log: Vec<Attempt>,
}

/// A delivery with the exact body it sends.
#[derive(Debug)]
pub struct LoggedDelivery {
    pub delivery: Delivery,
    pub payload: String,
}

/// An attempt with the delivery it belongs to.
#[derive(Debug)]
pub struct LoggedAttempt {
    /// `whd_…`
    pub delivery_id: String,
    pub attempt: Attempt,
}
