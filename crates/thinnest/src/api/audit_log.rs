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
use crate::domain::audit::AuditEntry;
use crate::domain::ids::AuditEntryId;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::Result;
use crate::gate::Gated;
use crate::state::AppState;

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_log))
        .gated(state, Class::Other)
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
        data: rows,
        next_cursor,
    }))
}
