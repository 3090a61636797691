-- One schema for SQLite and PostgreSQL: TEXT ids with a type prefix,
-- BIGINT unix-millisecond times, TEXT JSON.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    key_hash TEXT NOT NULL,
    hint TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    -- A key and its rotations share a lineage: the id of the first key.
    lineage_id TEXT NOT NULL,
    -- The lineage of the API key that created this one; NULL when a person did.
    created_by_key TEXT,
    -- The key that replaced this one by rotation.
    replaced_by TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (key_hash);
CREATE INDEX api_keys_account ON api_keys (account_id, id);
CREATE INDEX api_keys_lineage ON api_keys (account_id, lineage_id);
CREATE INDEX api_keys_created_by_key ON api_keys (account_id, created_by_key);

CREATE TABLE security_events (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    api_key_id TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    client_ip TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX security_events_key ON security_events (api_key_id, id);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    instructions TEXT NOT NULL,
    first_message TEXT NOT NULL,
    model TEXT NOT NULL,
    voice TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agents_account ON agents (account_id, id);
