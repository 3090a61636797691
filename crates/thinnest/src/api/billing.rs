//! `GET /billing` and `PATCH /billing`: the account's plan, this month's metered
//! usage per rate-limit class, and the billing contact (see [`crate::domain::billing`]).
//! Admins only.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ErrorResponses};
use crate::auth::Caller;
use crate::domain::billing::Billing;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::Result;
use crate::gate::Gated;
use crate::services::billing::{billing, set_contact};
use crate::state::AppState;

/// The routes, behind the gate: each request spends the `other` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_billing, update_billing))
        .gated(state, Class::Other)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBilling {
    /// An email address, or null to clear it.
    pub billing_email: Option<String>,
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
    let email = body.billing_email.as_deref();
    set_contact(&state.store, &caller.account_id, email, &caller.actor()).await?;
    Ok(Json(billing(&state.store, &caller.account_id).await?))
}
