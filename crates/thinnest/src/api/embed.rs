//! `/agents/{id}/embed`: where an agent's chat widget may run (Allowed Origins) and
//! whether visitors' identities must be verified.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiPath, ErrorResponses};
use crate::auth::Caller;
use crate::domain::embed::Embed;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::Result;
use crate::gate::Gated;
use crate::services::agents::find_agent;
use crate::services::embed::{save, settings};
use crate::state::AppState;

/// The routes, behind the gate: each request spends the `agent_crud` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_embed, put_embed))
        .gated(state, Class::AgentCrud)
}

/// The agent's embed settings.
#[utoipa::path(get, path = "/agents/{id}/embed", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = Embed), ErrorResponses), security(("api_key" = [])))]
async fn get_embed(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Embed>> {
    caller.require(Permission::AgentsRead)?;
    let agent = find_agent(&state, &caller.account_id, &id).await?;
    Ok(Json(
        settings(&state.store, &caller.account_id, &agent.id).await?,
    ))
}

/// Replace the agent's embed settings. Origins are normalised and deduplicated.
#[utoipa::path(put, path = "/agents/{id}/embed", tag = "agents", params(("id" = String, Path)),
    request_body = Embed,
    responses((status = 200, body = Embed), ErrorResponses), security(("api_key" = [])))]
async fn put_embed(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<Embed>>,
) -> Result<Json<Embed>> {
    caller.require(Permission::AgentsWrite)?;
    let ApiJson(body) = body?;
    let agent = find_agent(&state, &caller.account_id, &id).await?;
    Ok(Json(
        save(&state.store, &caller.account_id, &agent.id, body).await?,
    ))
}
