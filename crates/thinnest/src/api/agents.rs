//! `/agents`: create, list (cursor pagination), read, change and delete agents.

use axum::Json;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::PageQuery;
use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::agents::{Agent, CreateAgent, UpdateAgent};
use crate::domain::ids::AgentId;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::services::agents::find_agent;
use crate::state::AppState;

/// The routes, behind the gate: each request spends the `agent_crud` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agent, list_agents))
        .routes(routes!(get_agent, update_agent, delete_agent))
        .gated(state, Class::AgentCrud)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub data: Vec<Agent>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Create an agent.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = CreateAgent,
    responses((status = 201, body = Agent), ErrorResponses), security(("api_key" = [])))]
async fn create_agent(
    state: axum::extract::State<AppState>,
    caller: Caller,
    body: Result<ApiJson<CreateAgent>>,
) -> Result<(StatusCode, Json<Agent>)> {
    caller.require(Permission::AgentsWrite)?;
    let ApiJson(body) = body?;
    let new = body.checked()?;
    let agent = state.store.insert_agent(&caller.account_id, &new).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// List the account's agents, newest first.
#[utoipa::path(get, path = "/agents", tag = "agents", params(PageQuery),
    responses((status = 200, body = AgentPage), ErrorResponses), security(("api_key" = [])))]
async fn list_agents(
    state: axum::extract::State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<AgentPage>> {
    caller.require(Permission::AgentsRead)?;
    let page = query.checked::<AgentId>()?;
    let agents = state
        .store
        .list_agents(&caller.account_id, page.before, page.fetch())
        .await?;
    let (data, next_cursor) = page.split(agents, |a| &a.id);
    Ok(Json(AgentPage { data, next_cursor }))
}

/// Read one agent.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 200, body = Agent), ErrorResponses), security(("api_key" = [])))]
async fn get_agent(
    state: axum::extract::State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Agent>> {
    caller.require(Permission::AgentsRead)?;
    Ok(Json(find_agent(&state, &caller.account_id, &id).await?))
}

/// Change an agent; only the fields sent change.
#[utoipa::path(patch, path = "/agents/{id}", tag = "agents", params(("id" = String, Path)),
    request_body = UpdateAgent,
    responses((status = 200, body = Agent), ErrorResponses), security(("api_key" = [])))]
async fn update_agent(
    state: axum::extract::State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    body: Result<ApiJson<UpdateAgent>>,
) -> Result<Json<Agent>> {
    caller.require(Permission::AgentsWrite)?;
    let ApiJson(body) = body?;
    // Not found before invalid, as ever; nothing read here is written back: the
    // UPDATE changes only the fields sent, so concurrent changes of others stay.
    let current = find_agent(&state, &caller.account_id, &id).await?;
    let changes = body.checked()?;
    let agent = state
        .store
        .update_agent(&caller.account_id, &current.id, &changes)
        .await?
        .ok_or_else(|| Error::not_found("agent"))?;
    Ok(Json(agent))
}

/// Delete an agent.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), ErrorResponses), security(("api_key" = [])))]
async fn delete_agent(
    state: axum::extract::State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    caller.require(Permission::AgentsWrite)?;
    if state
        .store
        .delete_agent(&caller.account_id, &found::<AgentId>(&id)?)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("agent"))
    }
}
