//! The workspace's audit log.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::{PageError, render};
use crate::domain::ids::{AuditEntryId, Id};
use crate::domain::roles::Permission;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "audit_log.html")]
struct AuditPage {
    nav: Nav,
    /// When, action, actor, target, address, details.
    entries: Vec<(String, String, String, String, String, String)>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    cursor: Option<String>,
}

/// The workspace's audit log, newest first, 50 a page (Admins only).
pub async fn audit_log(
    State(state): State<AppState>,
    signed_in: SignedIn,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AuditLogRead)?;
    // A cursor that is not one of ours starts from the newest entry.
    let cursor = query.ok().and_then(|Query(q)| q.cursor);
    let before = cursor
        .as_deref()
        .filter(|c| AuditEntryId::parse(c).is_some());
    let mut rows = state
        .store
        .audit_entries(&signed_in.session.account_id, before, 51)
        .await?;
    let next_cursor = (rows.len() > 50).then(|| rows[49].id.clone());
    rows.truncate(50);
    let entries = rows
        .into_iter()
        .map(|r| {
            let actor = match r.actor.id.as_str() {
                "" => r.actor.kind,
                id => format!("{} {id}", r.actor.kind),
            };
            let target = format!("{} {}", r.target.kind, r.target.id);
            let action = match r.count {
                1 => r.action,
                n => format!("{} ×{n}", r.action),
            };
            let from = r.client_ip.unwrap_or_default();
            (
                r.created_at,
                action,
                actor,
                target,
                from,
                r.detail.to_string(),
            )
        })
        .collect();
    let page = AuditPage {
        nav: signed_in.nav(),
        entries,
        next_cursor,
    };
    Ok(render(StatusCode::OK, &page))
}
