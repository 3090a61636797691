-- Repeated entries of one kind (failed sign-ins for one person, from one address, in
-- one minute) are folded into one row with a count, so outsiders cannot grow the log
-- one row per request. `fold_key` names what folds together; NULL for every other entry.
ALTER TABLE audit_log ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN fold_key TEXT;
CREATE UNIQUE INDEX audit_log_fold ON audit_log (account_id, fold_key);

-- From here on, api_keys.created_by_key holds the id of the key that made a key (by
-- creating or rotating it), not that key's lineage. Rows made before hold the id of the
-- first key of the maker's lineage, which is a key id too.

-- Unconfirmed sign-ups are purged by age.
CREATE INDEX users_unconfirmed ON users (created_at) WHERE email_verified_at IS NULL;

-- Security events of a key are folded too: one row per key, kind and client (an IPv4
-- address or an IPv6 /64), with how often it happened and when it last did. Rows made
-- before, one a minute at most, are folded into their first.
ALTER TABLE security_events ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
ALTER TABLE security_events ADD COLUMN last_at BIGINT;
UPDATE security_events SET
    repeats = (SELECT COUNT(*) FROM security_events s WHERE s.api_key_id IS NOT DISTINCT FROM security_events.api_key_id
        AND s.kind = security_events.kind AND s.client_ip IS NOT DISTINCT FROM security_events.client_ip),
    last_at = (SELECT MAX(s.created_at) FROM security_events s WHERE s.api_key_id IS NOT DISTINCT FROM security_events.api_key_id
        AND s.kind = security_events.kind AND s.client_ip IS NOT DISTINCT FROM security_events.client_ip);
DELETE FROM security_events WHERE id NOT IN
    (SELECT MIN(id) FROM security_events GROUP BY api_key_id, kind, client_ip);
CREATE UNIQUE INDEX security_events_fold ON security_events (api_key_id, kind, client_ip);
