-- The feed that keeps every instance's cache of verified API keys true. A change to what
-- a key verifies as (revoked, rotated, expiring, the account's rate limits) adds a row in
-- the change's own transaction; writers take turns, so `seq` grows in commit order.
CREATE TABLE key_changes (
    seq BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL,
    at BIGINT NOT NULL
);

-- The running instances: the last change each has applied to its cache, and when it last
-- said so. A change is answered once every instance seen lately has applied it.
CREATE TABLE key_cache_instances (
    id TEXT PRIMARY KEY,
    applied_seq BIGINT NOT NULL,
    seen_at BIGINT NOT NULL
);
