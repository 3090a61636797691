-- Conversations with agents (over the API or the embedded widget), the knowledge
-- agents answer from, embed settings per agent, and widget sessions.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- api or widget
    channel TEXT NOT NULL,
    -- The visitor's id, name and email, kept only when the customer's server vouched
    -- for them (a verified user hash).
    user_id TEXT,
    user_name TEXT,
    user_email TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX conversations_account ON conversations (account_id, agent_id, id);

CREATE TABLE conversation_messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- user or assistant
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    -- Which engine wrote an assistant message.
    engine TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversation_messages_conversation ON conversation_messages (conversation_id, id);

CREATE TABLE knowledge (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX knowledge_agent ON knowledge (account_id, agent_id, id);

CREATE TABLE agent_embeds (
    agent_id TEXT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- A JSON array of origins; empty: any origin.
    allowed_origins TEXT NOT NULL,
    -- off, optional or required
    identity_verification TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Only the SHA-256 of a widget session token is stored.
CREATE TABLE widget_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    origin TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX widget_sessions_expiry ON widget_sessions (expires_at);
