//! `GET /usage`: requests per key and per class over time, for spotting unexpected activity.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, ErrorResponses};
use crate::auth::Caller;
use crate::domain::fields::Check;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::{now_ms, parse_rfc3339, rfc3339};
use crate::domain::usage::Count;
use crate::error::Result;
use crate::gate::Gated;
use crate::state::AppState;
use crate::store::api_keys::KeyScope;

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_usage))
        .gated(state, Class::Other)
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The longest range one request may cover.
const MAX_RANGE_MS: i64 = 92 * DAY_MS;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    #[default]
    Hour,
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// RFC 3339; default 24 hours before `to`. Rounded down to the hour.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339; default now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `hour` (default) or `day`.
    pub granularity: Option<Granularity>,
}

/// Request counts by outcome: `2xx`, `3xx`, `4xx`, `5xx`, `abandoned`, and apart from
/// `4xx`: `403` and `429`. (Refused credentials are security events of their key.)
type ByOutcome = BTreeMap<String, i64>;

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Counts {
    pub requests: i64,
    #[schema(value_type = BTreeMap<String, i64>)]
    pub by_outcome: ByOutcome,
}

impl Counts {
    fn add(&mut self, outcome: &str, n: i64) {
        self.requests += n;
        *self.by_outcome.entry(outcome.to_owned()).or_default() += n;
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Bucket {
    /// Start of the hour or day (UTC), RFC 3339.
    pub start: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Series {
    #[serde(flatten)]
    pub totals: Counts,
    /// Buckets with at least one request, oldest first.
    pub series: Vec<Bucket>,
}

impl Series {
    fn add(&mut self, bucket: i64, outcome: &str, n: i64) {
        self.totals.add(outcome, n);
        let start = rfc3339(bucket);
        match self.series.last_mut() {
            Some(last) if last.start == start => last.counts.add(outcome, n),
            _ => {
                let mut counts = Counts::default();
                counts.add(outcome, n);
                self.series.push(Bucket { start, counts });
            }
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyUsage {
    pub key_id: String,
    /// Null for a key that no longer exists.
    pub name: Option<String>,
    pub hint: Option<String>,
    pub last_used_at: Option<String>,
    pub last_client_ip: Option<String>,
    #[serde(flatten)]
    pub usage: Series,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClassUsage {
    /// `agent_crud`, `conversation`, `call_trigger`, `knowledge_upload` or `other`.
    pub class: String,
    #[serde(flatten)]
    pub usage: Series,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub from: String,
    pub to: String,
    pub granularity: Granularity,
    pub totals: Counts,
    pub by_key: Vec<KeyUsage>,
    pub by_class: Vec<ClassUsage>,
}

/// The account's requests per key and per rate-limit class, with their outcomes.
/// Counts are written about once a second, so the newest requests may take that
/// long to appear.
#[utoipa::path(get, path = "/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, body = Usage), ErrorResponses), security(("api_key" = [])))]
async fn get_usage(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ApiQuery<UsageQuery>>,
) -> Result<Json<Usage>> {
    caller.require(Permission::UsageRead)?;
    let ApiQuery(query) = query?;
    let mut check = Check::new();
    let mut time = |field: &str, text: &Option<String>, default: i64| match text {
        None => default,
        Some(text) => parse_rfc3339(text).unwrap_or_else(|| {
            check.fail(
                field,
                "must be an RFC 3339 timestamp such as 2026-01-31T00:00:00Z",
            );
            default
        }),
    };
    let to = time("to", &query.to, now_ms());
    let from = time("from", &query.from, to - DAY_MS);
    let from = from - from.rem_euclid(HOUR_MS);
    if from >= to {
        check.fail("from", "must be before `to`");
    } else if to - from > MAX_RANGE_MS {
        check.fail("from", "the range may cover at most 92 days");
    }
    check.finish()?;
    let granularity = query.granularity.unwrap_or_default();
    let bucket_ms = match granularity {
        Granularity::Hour => HOUR_MS,
        Granularity::Day => DAY_MS,
    };

    let rows = state.store.usage(&caller.account_id, from, to).await?;
    let keys = state
        .store
        .list_keys(&caller.account_id, KeyScope::All)
        .await?;
    Ok(Json(summarise(
        rows,
        keys,
        from,
        to,
        granularity,
        bucket_ms,
    )))
}

fn summarise(
    rows: Vec<Count>,
    keys: Vec<crate::domain::keys::Key>,
    from: i64,
    to: i64,
    granularity: Granularity,
    bucket_ms: i64,
) -> Usage {
    let mut totals = Counts::default();
    let mut by_key: BTreeMap<String, Series> = BTreeMap::new();
    let mut by_class: BTreeMap<String, Series> = BTreeMap::new();
    // Rows come ordered by hour, so each series grows oldest first.
    for row in rows {
        let bucket = row.hour - row.hour.rem_euclid(bucket_ms);
        totals.add(&row.outcome, row.count);
        by_key
            .entry(row.api_key_id)
            .or_default()
            .add(bucket, &row.outcome, row.count);
        by_class
            .entry(row.class)
            .or_default()
            .add(bucket, &row.outcome, row.count);
    }
    let mut keys: BTreeMap<String, crate::domain::keys::Key> =
        keys.into_iter().map(|k| (k.id.clone(), k)).collect();
    Usage {
        from: rfc3339(from),
        to: rfc3339(to),
        granularity,
        totals,
        by_key: by_key
            .into_iter()
            .map(|(key_id, usage)| {
                let key = keys.remove(&key_id);
                KeyUsage {
                    name: key.as_ref().map(|k| k.name.clone()),
                    hint: key.as_ref().map(|k| k.hint.clone()),
                    last_used_at: key.as_ref().and_then(|k| k.last_used_at).map(rfc3339),
                    last_client_ip: key.and_then(|k| k.last_used_ip),
                    key_id,
                    usage,
                }
            })
            .collect(),
        by_class: by_class
            .into_iter()
            .map(|(class, usage)| ClassUsage { class, usage })
            .collect(),
    }
}
