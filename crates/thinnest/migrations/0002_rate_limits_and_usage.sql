-- Per-account rate-limit overrides, as JSON {"<class>": per_minute}; read with every key.
ALTER TABLE accounts ADD COLUMN rate_limits TEXT NOT NULL DEFAULT '{}';

-- The client address of a key's latest authenticated request.
ALTER TABLE api_keys ADD COLUMN last_used_ip TEXT;

-- Requests per key, rate-limit class, outcome and hour (unix ms of the hour's start).
CREATE TABLE usage_counts (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    api_key_id TEXT NOT NULL,
    class TEXT NOT NULL,
    outcome TEXT NOT NULL,
    hour BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (account_id, hour, api_key_id, class, outcome)
);
