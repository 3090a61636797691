-- The webhook outbox. An event row is written in the transaction of the change that
-- caused it, with one delivery row per endpoint that wants it; dispatchers on any
-- instance claim due deliveries with a lease, so a crash loses nothing and two
-- instances never send the same delivery at once.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    -- The exact body every delivery of this event sends.
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_events_account ON webhook_events (account_id, created_at);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    -- pending, succeeded or failed (no attempts left, or the endpoint answered 410).
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    -- Set while an instance is sending it; after a crash the lease runs out.
    lease_owner TEXT,
    lease_until BIGINT,
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
-- What is due (the next wake-up), and what is due per endpoint (claims).
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_due_per_endpoint ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    -- The request headers as sent (signatures, never the secret), as a JSON object.
    request_headers TEXT NOT NULL,
    -- Null when no answer came (refused target, connection error, timeout).
    response_status BIGINT,
    -- The first 2 KiB of the answer.
    response_body TEXT,
    error TEXT,
    latency_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
