-- Sign-in through other identity providers. An identity is keyed by the provider's
-- issuer and its subject, never by email.
CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The address the provider reported when the identity was linked, for display.
    email TEXT,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX identities_issuer_subject ON identities (issuer, subject);
CREATE INDEX identities_user ON identities (user_id);

-- Flows in progress, by the SHA-256 of their state; each can be completed once.
-- `link_user_id` is set when a signed-in user connects a provider.
CREATE TABLE oauth_flows (
    state_hash TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    link_user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

-- A provider identity whose verified email belongs to an existing password account:
-- it is linked only once that account's password is given. Keyed by the SHA-256 of
-- the browser's flow cookie.
CREATE TABLE pending_links (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT,
    expires_at BIGINT NOT NULL
);
