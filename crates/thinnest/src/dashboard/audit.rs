//! The workspace's audit log: people by email, keys by name, actions and details in
//! words; filtered by action, person and dates, in pages.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::view::{When, page_of};
use super::{PageError, render};
use crate::domain::audit::Reference;
use crate::domain::ids::{AuditEntryId, Id};
use crate::domain::roles::Permission;
use crate::domain::time::parse_rfc3339;
use crate::state::AppState;
use crate::store::api_keys::KeyScope;
use crate::store::audit::AuditFilter;

/// Entries a page shows.
const PAGE: usize = 50;

/// Every action the log records, in words.
const ACTIONS: &[(&str, &str)] = &[
    ("api_key.created", "Created an API key"),
    ("api_key.revoked", "Revoked an API key"),
    ("api_key.rotated", "Rotated an API key"),
    ("account.rate_limits_changed", "Changed the rate limits"),
    ("billing.updated", "Changed the billing contact"),
    ("member.invited", "Invited a member"),
    ("member.joined", "Joined the workspace"),
    ("member.role_changed", "Changed a member's role"),
    ("member.removed", "Removed a member"),
    ("webhook.created", "Added a webhook endpoint"),
    ("webhook.updated", "Changed a webhook endpoint"),
    ("webhook.deleted", "Deleted a webhook endpoint"),
    (
        "webhooks.secret_rotated",
        "Rotated the webhook signing secret",
    ),
    ("user.signed_in", "Signed in"),
    ("user.sign_in_failed", "Failed to sign in"),
    ("user.password_changed", "Changed their password"),
    ("user.password_reset", "Reset their password"),
    ("user.identity_linked", "Connected a sign-in provider"),
    ("user.identity_unlinked", "Disconnected a sign-in provider"),
];

/// An entry as the page shows it.
struct Line {
    when: When,
    what: String,
    who: String,
    on: String,
    from: String,
    details: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "audit_log.html")]
struct AuditPage {
    nav: Nav,
    entries: Vec<Line>,
    actions: &'static [(&'static str, &'static str)],
    /// Members who may appear: id and email.
    people: Vec<(String, String)>,
    /// The filter as asked: action, person, from and to (dates).
    action: String,
    person: String,
    from: String,
    to: String,
    /// The query string of the next page, if there is one.
    older: Option<String>,
    filtered: bool,
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    cursor: Option<String>,
}

/// Midnight UTC of a `YYYY-MM-DD` date, if it is one.
fn day(date: &str) -> Option<i64> {
    parse_rfc3339(&format!("{date}T00:00:00Z"))
}

/// An object the log names, in words: people by email, keys by name.
fn named(
    r: &Reference,
    emails: &HashMap<String, String>,
    keys: &HashMap<String, String>,
) -> String {
    let found = match r.kind.as_str() {
        "user" => emails.get(&r.id).cloned(),
        "api_key" => keys.get(&r.id).map(|name| format!("API key {name}")),
        "operator" => Some("The command line".to_owned()),
        "account" => Some("The workspace".to_owned()),
        _ => None,
    };
    found.unwrap_or_else(|| match r.id.as_str() {
        "" => r.kind.replace('_', " "),
        id => format!("{} {id}", r.kind.replace('_', " ")),
    })
}

/// A detail's value in words.
fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".to_owned(),
        other => other.to_string(),
    }
}

pub async fn audit_log(
    State(state): State<AppState>,
    signed_in: SignedIn,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AuditLogRead)?;
    // A query that is not one of ours shows the newest entries.
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let account = &signed_in.session.account_id;
    let before = query
        .cursor
        .as_deref()
        .filter(|c| AuditEntryId::parse(c).is_some());
    let action = ACTIONS
        .iter()
        .find(|(a, _)| *a == query.action)
        .map_or("", |(a, _)| a);
    let emails = state.store.member_emails(account).await?;
    let person = emails
        .get(&query.person)
        .map_or("", |_| query.person.as_str());
    let since = day(&query.from).unwrap_or(i64::MIN);
    let until = day(&query.to).map_or(i64::MAX, |d| d + 86_400_000);
    let filter = AuditFilter {
        action,
        actor_id: person,
        since,
        until,
    };
    let fetch = i64::try_from(PAGE + 1).unwrap_or(i64::MAX);
    let mut rows = state
        .store
        .find_audit_entries(account, &filter, before, fetch)
        .await?;
    let keys: HashMap<String, String> = state
        .store
        .list_keys(account, KeyScope::All)
        .await?
        .into_iter()
        .map(|k| (k.id, format!("{} ({})", k.name, k.hint)))
        .collect();
    // Dates that are not dates are dropped, from the form and from the next page's link.
    let from = if since == i64::MIN {
        ""
    } else {
        query.from.as_str()
    };
    let to = if until == i64::MAX {
        ""
    } else {
        query.to.as_str()
    };
    let older = page_of(&mut rows, PAGE, |r| r.id.clone()).map(|cursor| {
        format!("action={action}&person={person}&from={from}&to={to}&cursor={cursor}")
    });
    let entries = rows
        .into_iter()
        .map(|r| {
            let words = ACTIONS
                .iter()
                .find(|(a, _)| *a == r.action)
                .map(|(_, w)| *w);
            let what = words.map_or_else(|| r.action.replace(['.', '_'], " "), str::to_owned);
            Line {
                when: When::at(&r.created_at),
                what: match r.count {
                    1 => what,
                    n => format!("{what} ({n} times)"),
                },
                who: named(&r.actor, &emails, &keys),
                on: named(&r.target, &emails, &keys),
                from: r.client_ip.unwrap_or_default(),
                details: r
                    .detail
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.replace('_', " "), value(v)))
                    .collect(),
            }
        })
        .collect();
    let mut people: Vec<(String, String)> = emails.into_iter().collect();
    people.sort_by(|a, b| a.1.cmp(&b.1));
    let page = AuditPage {
        nav: signed_in.nav(),
        entries,
        actions: ACTIONS,
        people,
        filtered: !action.is_empty()
            || !person.is_empty()
            || since != i64::MIN
            || until != i64::MAX,
        action: action.to_owned(),
        person: person.to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        older,
    };
    Ok(render(StatusCode::OK, &page))
}
