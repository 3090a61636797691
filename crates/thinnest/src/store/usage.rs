//! Usage counts per key, class, outcome and hour, and each key's latest use.

use super::Store;
use super::StoreResult;
use crate::domain::usage::{Count, LastUse, NewCount};

/// A count's row; the store answers with [`Count`]s.
#[derive(sqlx::FromRow)]
struct UsageRow {
    api_key_id: String,
    class: String,
    outcome: String,
    hour: i64,
    count: i64,
}

impl From<UsageRow> for Count {
    fn from(row: UsageRow) -> Count {
        Count {
            api_key_id: row.api_key_id,
            class: row.class,
            outcome: row.outcome,
            hour: row.hour,
            count: row.count,
        }
    }
}

impl Store {
    /// Adds counts and records latest uses, in one transaction.
    pub async fn write_usage(&self, counts: &[NewCount], uses: &[LastUse]) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        for c in counts {
            sqlx::query(
                "INSERT INTO usage_counts (account_id, api_key_id, class, outcome, hour, count) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (account_id, hour, api_key_id, class, outcome) \
                 DO UPDATE SET count = usage_counts.count + excluded.count",
            )
            .bind(&c.account_id)
            .bind(&c.key_id)
            .bind(c.class)
            .bind(c.outcome)
            .bind(c.hour)
            .bind(c.count)
            .execute(&mut *tx)
            .await?;
        }
        for u in uses {
            // At most once a minute per key, so busy keys do not rewrite their row each second.
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2, last_used_ip = $3 \
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $4)",
            )
            .bind(&u.key_id)
            .bind(u.at)
            .bind(&u.client_ip)
            .bind(u.at - 60_000)
            .execute(&mut *tx)
            .await?;
        }
        Ok(tx.commit().await?)
    }

    /// The account's counts for hours starting in `[from, to)`.
    pub async fn usage(&self, account_id: &str, from: i64, to: i64) -> StoreResult<Vec<Count>> {
        let rows: Vec<UsageRow> = sqlx::query_as(
            "SELECT api_key_id, class, outcome, hour, count FROM usage_counts \
             WHERE account_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
        )
        .bind(account_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Count::from).collect())
    }
}
