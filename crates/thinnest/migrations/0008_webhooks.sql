-- Webhooks. The signing secret is sealed (AES-256-GCM), never hashed: deliveries are
-- signed with it. During a rotation's grace period the previous one still counts.
CREATE TABLE webhook_secrets (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    current_sealed TEXT NOT NULL,
    previous_sealed TEXT,
    previous_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    rotated_at BIGINT
);

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    -- A JSON array of event types, or ["*"].
    events TEXT NOT NULL,
    description TEXT NOT NULL,
    -- 1 or 0.
    enabled BIGINT NOT NULL,
    disabled_reason TEXT,
    failing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, id);
