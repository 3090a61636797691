//! API keys: only the SHA-256 of a key and a display hint are stored.

use super::audit::{self, Actor, Change};
use super::key_changes;
use super::outbox::publish;
use super::{Store, StoreResult};
use crate::domain::events::Event;
use crate::domain::ids::KeyId;
use crate::domain::keys::Key;
use crate::domain::roles::Role;
use crate::domain::time::now_ms;
use crate::secrets::api_key::{ApiKey, KeyHash};

/// A key's row; the store answers with [`Key`]s.
#[derive(Debug, Clone, sqlx::FromRow)]
struct KeyRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub hint: String,
    pub created_by: String,
    pub lineage_id: String,
    pub created_by_key: Option<String>,
    pub replaced_by: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<KeyRow> for Key {
    fn from(row: KeyRow) -> Key {
        Key {
            id: row.id,
            account_id: row.account_id,
            name: row.name,
            role: row.role,
            hint: row.hint,
            created_by: row.created_by,
            lineage_id: row.lineage_id,
            created_by_key: row.created_by_key,
            replaced_by: row.replaced_by,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            last_used_ip: row.last_used_ip,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct StoredKeyRow {
    #[sqlx(flatten)]
    row: KeyRow,
    key_hash: String,
    rate_limits: String,
}

/// A key with its stored hash and its account's rate-limit overrides.
#[derive(Debug)]
pub struct StoredKey {
    pub key: Key,
    pub key_hash: String,
    pub rate_limits: String,
}

/// The keys a caller may see: all of the account's; for a key below Admin, its
/// lineage (itself and its rotations) and the keys the lineage made, transitively;
/// for a person below Admin, the keys they made in the dashboard and the keys those
/// made, transitively. Below Admin, Admin keys are never in reach (a person who made
/// some while an Admin and was then demoted no longer reaches them).
#[derive(Debug, Clone, Copy)]
pub enum KeyScope<'a> {
    All,
    Lineage(&'a str),
    User(&'a str),
}

impl KeyScope<'_> {
    /// The `$2` (lineage) and `$3` (user) parameters of [`key_scope`].
    fn params(&self) -> (&str, &str) {
        match self {
            KeyScope::All => ("", ""),
            KeyScope::Lineage(lineage) => (lineage, ""),
            KeyScope::User(user) => ("", user),
        }
    }
}

macro_rules! key_columns {
    () => {
        "id, account_id, name, role, hint, created_by, lineage_id, created_by_key, replaced_by, \
         created_at, last_used_at, last_used_ip, expires_at, revoked_at"
    };
}
/// The keys a key made, transitively, from the keys selected by `$seed` (`$1` is the account).
macro_rules! made_by {
    ($seed:literal) => {
        concat!(
            "WITH RECURSIVE tree(id) AS (SELECT id FROM api_keys WHERE account_id = $1 AND ",
            $seed,
            " UNION SELECT k.id FROM api_keys k JOIN tree t ON k.created_by_key = t.id \
             WHERE k.account_id = $1) SELECT id FROM tree"
        )
    };
}
macro_rules! key_scope {
    () => {
        concat!(
            "(($2 = '' AND $3 = '') OR (role <> 'admin' AND id IN (",
            made_by!("(lineage_id = $2 OR (created_by = $3 AND created_by_key IS NULL))"),
            ")))"
        )
    };
}

/// How a rotation went.
pub enum Rotated {
    Done(Box<Key>),
    /// The key was already rotated, revoked or expired.
    AlreadyEnded,
    /// The key asking for the rotation was revoked or rotated meanwhile.
    MakerRetired,
}

/// What a new key is made of.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub role: Role,
    pub hash: KeyHash,
    pub hint: String,
    /// The person on whose behalf it is made.
    pub created_by: &'a str,
    /// The API key that made it, if a key did; a rotation keeps the old key's.
    pub created_by_key: Option<&'a str>,
    pub expires_at: Option<i64>,
}

impl<'a> NewKey<'a> {
    /// A fresh secret and the row that stores only its hash and hint.
    pub fn mint(
        name: &'a str,
        role: Role,
        created_by: &'a str,
        created_by_key: Option<&'a str>,
        expires_at: Option<i64>,
    ) -> (ApiKey, NewKey<'a>) {
        let secret = ApiKey::generate();
        let new = NewKey {
            name,
            role,
            hash: secret.hash(),
            hint: secret.hint(),
            created_by,
            created_by_key,
            expires_at,
        };
        (secret, new)
    }
}

/// Inserts a key with this id; a key starts its own lineage unless it continues one.
async fn insert<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    account_id: &str,
    id: &str,
    lineage_id: &str,
    key: &NewKey<'_>,
) -> StoreResult<Key> {
    let row: KeyRow = sqlx::query_as(concat!(
        "INSERT INTO api_keys (id, account_id, name, role, key_hash, hint, created_by, lineage_id, \
         created_by_key, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ",
        key_columns!()
    ))
    .bind(id)
    .bind(account_id)
    .bind(key.name)
    .bind(key.role.as_str())
    .bind(&key.hash.0)
    .bind(&key.hint)
    .bind(key.created_by)
    .bind(lineage_id)
    .bind(key.created_by_key)
    .bind(now_ms())
    .bind(key.expires_at)
    .fetch_one(executor)
    .await?;
    Ok(row.into())
}

/// One key of the account, in the caller's transaction.
async fn fetch<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    account_id: &str,
    id: &str,
) -> StoreResult<Key> {
    let row: KeyRow = sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM api_keys WHERE account_id = $1 AND id = $2"
    ))
    .bind(account_id)
    .bind(id)
    .fetch_one(executor)
    .await?;
    Ok(row.into())
}

/// Revokes a key now (`at` None), or makes it expire at `at` unless it expires sooner.
/// True when the key changed.
async fn end<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    account_id: &str,
    id: &str,
    at: Option<i64>,
) -> StoreResult<bool> {
    let query = match at {
        None => sqlx::query(
            "UPDATE api_keys SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .bind(now_ms()),
        Some(at) => sqlx::query(
            "UPDATE api_keys SET expires_at = $3 \
             WHERE account_id = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(account_id)
        .bind(id)
        .bind(at),
    };
    Ok(query.execute(executor).await?.rows_affected() > 0)
}

impl Store {
    /// Stores a new key; `None` (and nothing stored) when the key making it was revoked,
    /// rotated or expired meanwhile.
    pub async fn insert_key(
        &self,
        account_id: &str,
        key: &NewKey<'_>,
        actor: &Actor,
    ) -> StoreResult<Option<Key>> {
        let id = String::from(KeyId::new());
        let mut tx = self.begin_write().await?;
        if !self
            .is_current(&mut tx, account_id, key.created_by_key, false)
            .await?
        {
            return Ok(None);
        }
        let row = insert(&mut *tx, account_id, &id, &id, key).await?;
        let detail = serde_json::json!({"name": key.name, "role": key.role.as_str()});
        let change = Change {
            action: "api_key.created",
            target_type: "api_key",
            target_id: &id,
            detail,
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        let event = Event::ApiKeyCreated(row.clone().into());
        publish(&mut tx, account_id, &event).await?;
        self.commit_events(tx).await?;
        Ok(Some(row))
    }

    /// Whether `maker`, the key making a key (if a key does), is still active and not
    /// rotated, in the caller's transaction. On PostgreSQL its row stays share-locked
    /// until the transaction ends, so a revocation of it waits for the new key, and a
    /// cascade that follows sees it. A maker that will change its own row in this
    /// transaction (a key rotating itself) is locked for that change at once: two
    /// share locks, each then waiting for the other to update, would deadlock.
    async fn is_current(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        account_id: &str,
        maker: Option<&str>,
        changes_itself: bool,
    ) -> StoreResult<bool> {
        let Some(maker) = maker else {
            return Ok(true);
        };
        let lock = match (self.backend, changes_itself) {
            (super::Backend::Postgres, false) => " FOR SHARE",
            (super::Backend::Postgres, true) => " FOR NO KEY UPDATE",
            (super::Backend::Sqlite, _) => "",
        };
        let sql = format!(
            "SELECT id FROM api_keys WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL \
             AND replaced_by IS NULL AND (expires_at IS NULL OR expires_at > $3){lock}"
        );
        let found: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(account_id)
            .bind(maker)
            .bind(now_ms())
            .fetch_optional(&mut **tx)
            .await?;
        Ok(found.is_some())
    }

    /// The key with this hash, whatever its state, with the stored hash for a
    /// constant-time check and the account's rate-limit overrides, in one query.
    /// This is how a request finds its account, so it is the one lookup that
    /// cannot start from an account id.
    pub async fn key_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<StoredKey>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            key_columns!(),
            ", key_hash, (SELECT rate_limits FROM accounts WHERE accounts.id = api_keys.account_id) \
             AS rate_limits FROM api_keys WHERE key_hash = $1"
        ))
        .bind(&hash.0)
        .fetch_optional(self.pool())
        .await?
        .map(|found: StoredKeyRow| StoredKey {
            key: found.row.into(),
            key_hash: found.key_hash,
            rate_limits: found.rate_limits,
        }))
    }

    pub async fn list_keys(&self, account_id: &str, scope: KeyScope<'_>) -> StoreResult<Vec<Key>> {
        let rows: Vec<KeyRow> = sqlx::query_as(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE account_id = $1 AND ",
            key_scope!(),
            " ORDER BY id DESC"
        ))
        .bind(account_id)
        .bind(scope.params().0)
        .bind(scope.params().1)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Key::from).collect())
    }

    pub async fn get_key(
        &self,
        account_id: &str,
        scope: KeyScope<'_>,
        id: &str,
    ) -> StoreResult<Option<Key>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE account_id = $1 AND ",
            key_scope!(),
            " AND id = $4"
        ))
        .bind(account_id)
        .bind(scope.params().0)
        .bind(scope.params().1)
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .map(|row: KeyRow| row.into()))
    }

    /// Revokes a key now and, with `cascade`, every active key it made, transitively;
    /// a key already revoked keeps its first revocation time. Returns the ids of the
    /// other keys revoked. The key itself is revoked first, so no key it makes from
    /// then on can be stored; the keys made meanwhile are found by asking again until
    /// no active one is left.
    pub async fn revoke_key(
        &self,
        account_id: &str,
        id: &str,
        cascade: bool,
        actor: &Actor,
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let mut changed = self
            .revoke_one(&mut tx, account_id, id, serde_json::json!({}), actor)
            .await?;
        let mut also = Vec::new();
        // Each round finds what the last one missed (keys stored meanwhile), until none.
        let mut more = cascade;
        while more {
            let made: Vec<(String,)> = sqlx::query_as(concat!(
                "SELECT id FROM api_keys WHERE account_id = $1 AND id <> $2 AND revoked_at IS NULL \
                 AND id IN (",
                made_by!("id = $2"),
                ") ORDER BY id"
            ))
            .bind(account_id)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            more = !made.is_empty();
            for (key,) in made {
                let detail = serde_json::json!({"cascade_from": id});
                changed |= self
                    .revoke_one(&mut tx, account_id, &key, detail, actor)
                    .await?;
                also.push(key);
            }
        }
        if changed {
            key_changes::note(&mut tx, account_id).await?;
        }
        self.commit_events(tx).await?;
        Ok(also)
    }

    /// Revokes one key in the caller's transaction, with its audit entry and event,
    /// unless it was revoked already; true when it was not.
    async fn revoke_one(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        account_id: &str,
        id: &str,
        detail: serde_json::Value,
        actor: &Actor,
    ) -> StoreResult<bool> {
        if !end(&mut **tx, account_id, id, None).await? {
            return Ok(false);
        }
        let change = Change {
            action: "api_key.revoked",
            target_type: "api_key",
            target_id: id,
            detail,
        };
        audit::record(&mut **tx, account_id, actor, change).await?;
        let revoked = fetch(&mut **tx, account_id, id).await?;
        publish(tx, account_id, &Event::ApiKeyRevoked(revoked.into())).await?;
        Ok(true)
    }

    /// Replaces an active, not yet rotated key by a new one of the same lineage and the
    /// same maker, asked for by the key `by_key`, and ends the old one now (`old_ends_at` None) or at `old_ends_at`. All or
    /// nothing: [`Rotated::AlreadyEnded`] when the old key was already rotated,
    /// revoked or expired, which also settles two rotations racing for one key.
    pub async fn rotate_key(
        &self,
        account_id: &str,
        old: &Key,
        old_ends_at: Option<i64>,
        new: &NewKey<'_>,
        by_key: Option<&str>,
        actor: &Actor,
    ) -> StoreResult<Rotated> {
        let new_id = String::from(KeyId::new());
        let mut tx = self.begin_write().await?;
        let rotates_itself = by_key == Some(old.id.as_str());
        if !self
            .is_current(&mut tx, account_id, by_key, rotates_itself)
            .await?
        {
            return Ok(Rotated::MakerRetired);
        }
        let claimed = sqlx::query(
            "UPDATE api_keys SET replaced_by = $3 WHERE account_id = $1 AND id = $2 \
             AND replaced_by IS NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4)",
        )
        .bind(account_id)
        .bind(&old.id)
        .bind(&new_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(Rotated::AlreadyEnded);
        }
        let created = insert(&mut *tx, account_id, &new_id, &old.lineage_id, new).await?;
        end(&mut *tx, account_id, &old.id, old_ends_at).await?;
        let event = Event::ApiKeyCreated(created.clone().into());
        publish(&mut tx, account_id, &event).await?;
        if old_ends_at.is_none() {
            let revoked = fetch(&mut *tx, account_id, &old.id).await?;
            publish(&mut tx, account_id, &Event::ApiKeyRevoked(revoked.into())).await?;
        }
        let change = Change {
            action: "api_key.rotated",
            target_type: "api_key",
            target_id: &old.id,
            detail: serde_json::json!({
                "replaced_by": new_id,
                "old_key_ends_at": old_ends_at.map(crate::domain::time::rfc3339),
            }),
        };
        audit::record(&mut *tx, account_id, actor, change).await?;
        key_changes::note(&mut tx, account_id).await?;
        self.commit_events(tx).await?;
        Ok(Rotated::Done(Box::new(created)))
    }
}
