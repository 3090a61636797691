//! `/agents`: create, list (cursor pagination), read, change and delete agents.

use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::PageQuery;
use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::fields::Check;
use crate::domain::ids::AgentId;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::time::rfc3339;
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::services::agents::find_agent;
use crate::state::AppState;
use crate::store::agents::{AgentFields, AgentRow};

/// The routes, behind the gate: each request spends the `agent_crud` budget.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agent, list_agents))
        .routes(routes!(get_agent, update_agent, delete_agent))
        .gated(state, Class::AgentCrud)
}

const DEFAULT_MODEL: &str = "builtin";

/// How the agent speaks on calls.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Voice {
    /// Speech provider, e.g. `builtin`.
    #[schema(min_length = 1, max_length = 50, pattern = r"^[^\x00]*$")]
    pub provider: String,
    /// The provider's voice id.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\x00]*$")]
    pub voice_id: String,
    /// BCP 47 language tag.
    #[schema(min_length = 2, max_length = 35, pattern = r"^[^\x00]*$")]
    pub language: String,
    /// Speaking rate, 0.5 to 2.0.
    #[schema(minimum = 0.5, maximum = 2.0)]
    pub speed: f64,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            provider: "builtin".to_owned(),
            voice_id: "default".to_owned(),
            language: "en-US".to_owned(),
            speed: 1.0,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Agent {
    /// `agent_…`
    pub id: String,
    pub name: String,
    pub description: String,
    /// The system prompt.
    pub instructions: String,
    /// What the agent says first.
    pub first_message: String,
    pub model: String,
    pub voice: Voice,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl TryFrom<AgentRow> for Agent {
    type Error = Error;

    fn try_from(row: AgentRow) -> Result<Agent> {
        let voice = serde_json::from_str(&row.voice)
            .map_err(|e| anyhow::anyhow!("agent {} has unreadable voice settings: {e}", row.id))?;
        Ok(Agent {
            id: row.id,
            name: row.name,
            description: row.description,
            instructions: row.instructions,
            first_message: row.first_message,
            model: row.model,
            voice,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    #[schema(max_length = 200, pattern = r"^[^\x00]*\S[^\x00]*$")]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00]*$")]
    pub description: String,
    #[serde(default)]
    #[schema(max_length = 50000, pattern = r"^[^\x00]*$")]
    pub instructions: String,
    #[serde(default)]
    #[schema(max_length = 2000, pattern = r"^[^\x00]*$")]
    pub first_message: String,
    /// Default `builtin`.
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\x00]*$")]
    pub model: Option<String>,
    pub voice: Option<Voice>,
}

/// Only the fields present change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[schema(max_length = 200, pattern = r"^[^\x00]*\S[^\x00]*$")]
    pub name: Option<String>,
    #[schema(max_length = 2000, pattern = r"^[^\x00]*$")]
    pub description: Option<String>,
    #[schema(max_length = 50000, pattern = r"^[^\x00]*$")]
    pub instructions: Option<String>,
    #[schema(max_length = 2000, pattern = r"^[^\x00]*$")]
    pub first_message: Option<String>,
    #[schema(min_length = 1, max_length = 100, pattern = r"^[^\x00]*$")]
    pub model: Option<String>,
    pub voice: Option<Voice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub data: Vec<Agent>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn validate(f: &AgentFields, voice: &Voice) -> Result<()> {
    let mut check = Check::new();
    check.text("name", f.name.trim(), 1, 200);
    check.text("description", &f.description, 0, 2_000);
    check.text("instructions", &f.instructions, 0, 50_000);
    check.text("first_message", &f.first_message, 0, 2_000);
    check.text("model", &f.model, 1, 100);
    check.text("voice.provider", &voice.provider, 1, 50);
    check.text("voice.voice_id", &voice.voice_id, 1, 100);
    check.text("voice.language", &voice.language, 2, 35);
    if !(0.5..=2.0).contains(&voice.speed) {
        check.fail("voice.speed", "must be between 0.5 and 2.0");
    }
    Ok(check.finish()?)
}

fn fields_with_voice(mut fields: AgentFields, voice: &Voice) -> Result<AgentFields> {
    validate(&fields, voice)?;
    fields.name = fields.name.trim().to_owned();
    fields.voice = serde_json::to_string(voice).map_err(anyhow::Error::from)?;
    Ok(fields)
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
    let voice = body.voice.unwrap_or_default();
    let fields = fields_with_voice(
        AgentFields {
            name: body.name,
            description: body.description,
            instructions: body.instructions,
            first_message: body.first_message,
            model: body.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
            voice: String::new(),
        },
        &voice,
    )?;
    let row = state
        .store
        .insert_agent(&caller.account_id, &fields)
        .await?;
    Ok((StatusCode::CREATED, Json(row.try_into()?)))
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
    let rows = state
        .store
        .list_agents(&caller.account_id, page.before, page.fetch())
        .await?;
    let (rows, next_cursor) = page.split(rows, |r| &r.id);
    let data = rows
        .into_iter()
        .map(Agent::try_from)
        .collect::<Result<_>>()?;
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
    Ok(Json(
        find_agent(&state, &caller.account_id, &id)
            .await?
            .try_into()?,
    ))
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
    let current = Agent::try_from(find_agent(&state, &caller.account_id, &id).await?)?;
    let voice = body.voice.unwrap_or(current.voice);
    let fields = fields_with_voice(
        AgentFields {
            name: body.name.unwrap_or(current.name),
            description: body.description.unwrap_or(current.description),
            instructions: body.instructions.unwrap_or(current.instructions),
            first_message: body.first_message.unwrap_or(current.first_message),
            model: body.model.unwrap_or(current.model),
            voice: String::new(),
        },
        &voice,
    )?;
    let row = state
        .store
        .update_agent(&caller.account_id, &id, &fields)
        .await?
        .ok_or_else(|| Error::not_found("agent"))?;
    Ok(Json(row.try_into()?))
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
