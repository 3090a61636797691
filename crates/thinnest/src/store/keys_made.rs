//! What revoking a key with cascade would end: the active keys each key made.

use super::{Store, StoreResult};
use crate::domain::time::now_ms;

impl Store {
    /// For each key of the account that made others: how many of the keys it made,
    /// transitively, are still active (what revoking it with cascade would end).
    pub async fn active_keys_made(
        &self,
        account_id: &str,
    ) -> StoreResult<std::collections::HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "WITH RECURSIVE tree(root, id) AS (\
               SELECT created_by_key, id FROM api_keys \
               WHERE account_id = $1 AND created_by_key IS NOT NULL \
               UNION SELECT t.root, k.id FROM api_keys k JOIN tree t ON k.created_by_key = t.id \
               WHERE k.account_id = $1) \
             SELECT t.root, COUNT(*) FROM tree t JOIN api_keys k ON k.id = t.id \
             WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2) \
             GROUP BY t.root",
        )
        .bind(account_id)
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }
}
