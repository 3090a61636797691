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
