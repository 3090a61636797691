//! `GET /audit-log`: who changed what, from where, newest first.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::PageQuery;
use super::{ApiQuery, ErrorResponses};
use crate::auth::Caller;
use crate::domain::ids::AuditEntryId;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::rfc3339;
use crate::error::Result;
use crate::gate::Gated;
use crate::state::AppState;
use crate::store::audit::AuditRow;

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_log))
        .gated(state, Class::Other)
}

/// An object an entry names.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reference {
    /// `api_key`, `account` or `operator` (the command line, for actors).
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    /// `aud_…`
    pub id: String,
    /// `api_key.created`, `api_key.revoked`, `api_key.rotated`, `account.rate_limits_changed`.
    pub action: String,
    pub actor: Reference,
    pub target: Reference,
    /// Where the request came from; null for the command line.
    pub client_ip: Option<String>,
    /// What changed, e.g. a new key's name and role; never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    /// How many times it happened: repeats of one entry within a minute (failed sign-ins
    /// from one address) are folded into one, with this count.
    pub count: i64,
    pub created_at: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            action: row.action,
            actor: Reference {
                kind: row.actor_type,
                id: row.actor_id,
            },
            target: Reference {
                kind: row.target_type,
                id: row.target_id,
            },
            client_ip: row.client_ip,
            detail: serde_json::from_str(&row.detail).unwrap_or_default(),
            count: row.repeats,
            created_at: rfc3339(row.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub data: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The account's audit log, newest first. Entries are never deleted.
#[utoipa::path(get, path = "/audit-log", tag = "audit-log", params(PageQuery),
    responses((status = 200, body = AuditPage), ErrorResponses), security(("api_key" = [])))]
async fn list_audit_log(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<ApiQuery<PageQuery>>,
) -> Result<Json<AuditPage>> {
    caller.require(Permission::AuditLogRead)?;
    let ApiQuery(query) = query?;
    let page = query.checked::<AuditEntryId>()?;
    let rows = state
        .store
        .audit_entries(&caller.account_id, page.before, page.fetch())
        .await?;
    let (rows, next_cursor) = page.split(rows, |r| &r.id);
    Ok(Json(AuditPage {
        data: rows.into_iter().map(AuditEntry::from).collect(),
        next_cursor,
    }))
}
