-- A widget session starts without a conversation: the conversation is created with the
-- session's first message, so page views that never chat leave nothing in
-- /conversations. The session keeps its verified visitor itself, so that each request
-- can be checked against the agent's current identity verification.
CREATE TABLE widget_sessions_v2 (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- Null until the session's first message.
    conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
    origin TEXT NOT NULL,
    -- The visitor, kept only when the customer's server vouched for them.
    user_id TEXT,
    user_name TEXT,
    user_email TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Live sessions carry over; those that never sent a message lose their empty conversation.
INSERT INTO widget_sessions_v2 (token_hash, account_id, agent_id, conversation_id, origin,
    user_id, user_name, user_email, created_at, expires_at)
SELECT s.token_hash, s.account_id, s.agent_id,
    CASE WHEN EXISTS (SELECT 1 FROM conversation_messages m WHERE m.conversation_id = s.conversation_id)
        THEN s.conversation_id END,
    s.origin, c.user_id, c.user_name, c.user_email, s.created_at, s.expires_at
FROM widget_sessions s JOIN conversations c ON c.id = s.conversation_id;

DROP TABLE widget_sessions;
ALTER TABLE widget_sessions_v2 RENAME TO widget_sessions;
CREATE INDEX widget_sessions_expiry ON widget_sessions (expires_at);

-- The empty widget conversations that page views created before.
DELETE FROM conversations WHERE channel = 'widget'
    AND NOT EXISTS (SELECT 1 FROM conversation_messages m WHERE m.conversation_id = conversations.id);
