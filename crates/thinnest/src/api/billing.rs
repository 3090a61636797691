//! `GET /billing` and `PATCH /billing`: the account's plan, this month's metered
//! usage per rate-limit class, and the billing contact. Admins only.
//!
//! A self-hosted server charges nothing: the plan is `self_hosted` and there are no
//! invoices. What is metered is what an operator would bill on.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorResponses};
use crate::auth::Caller;
use crate::domain::fields::Check;
use crate::domain::limits::Class;
use crate::domain::people::normalise_email;
use crate::domain::roles::Permission;
use crate::domain::time::{month_bounds, now_ms, rfc3339};
use crate::error::Result;
use crate::gate::Gated;
use crate::state::AppState;
use crate::store::Store;

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_billing, update_billing))
        .gated(state, Class::Other)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Period {
    /// The first instant of the current calendar month (UTC).
    pub start: String,
    /// The first instant of the next month.
    pub end: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeteredUsage {
    /// Authenticated requests this period, whatever their outcome.
    pub requests: i64,
    /// The same, per rate-limit class.
    pub by_class: BTreeMap<String, i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Billing {
    /// `self_hosted`: this server charges nothing.
    pub plan: String,
    /// Where billing messages go; null until set.
    pub billing_email: Option<String>,
    pub period: Period,
    pub usage: MeteredUsage,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBilling {
    /// An email address, or null to clear it.
    pub billing_email: Option<String>,
}

/// The account's billing view, as the API and the dashboard show it.
pub async fn billing(store: &Store, account_id: &str) -> Result<Billing> {
    let (start, end) = month_bounds(now_ms());
    let mut by_class = BTreeMap::new();
    for row in store.usage(account_id, start, end).await? {
        *by_class.entry(row.class).or_insert(0) += row.count;
    }
    Ok(Billing {
        plan: "self_hosted".to_owned(),
        billing_email: store.billing_email(account_id).await?,
        period: Period {
            start: rfc3339(start),
            end: rfc3339(end),
        },
        usage: MeteredUsage {
            requests: by_class.values().sum(),
            by_class,
        },
    })
}

/// Checks a billing address as sign-up does; `None` clears it.
pub fn billing_address(check: &mut Check, email: Option<&str>) -> Option<String> {
    let email = email?;
    match normalise_email(email) {
        Ok(email) if email.len() <= 254 => Some(email),
        _ => {
            check.fail(
                "billing_email",
                "must be an email address such as billing@example.com",
            );
            None
        }
    }
}

/// The plan, this month's metered usage and the billing contact.
#[utoipa::path(get, path = "/billing", tag = "billing",
    responses((status = 200, body = Billing), ErrorResponses), security(("api_key" = [])))]
async fn get_billing(State(state): State<AppState>, caller: Caller) -> Result<Json<Billing>> {
    caller.require(Permission::BillingManage)?;
    Ok(Json(billing(&state.store, &caller.account_id).await?))
}

/// Set or clear the billing contact.
#[utoipa::path(patch, path = "/billing", tag = "billing", request_body = UpdateBilling,
    responses((status = 200, body = Billing), ErrorResponses), security(("api_key" = [])))]
async fn update_billing(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<ApiJson<UpdateBilling>>,
) -> Result<Json<Billing>> {
    caller.require(Permission::BillingManage)?;
    let ApiJson(body) = body?;
    let mut check = Check::new();
    let email = billing_address(&mut check, body.billing_email.as_deref());
    check.finish()?;
    state
        .store
        .set_billing_email(&caller.account_id, email.as_deref(), &caller.actor())
        .await?;
    Ok(Json(billing(&state.store, &caller.account_id).await?))
}
