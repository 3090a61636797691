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
use crate::state::AppState;
use crate::store::agents::{AgentChanges, AgentFields, AgentRow};

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

/// The fields a request gives, borrowed: all of them on creation, those sent on a change.
struct Given<'a> {
    name: Option<&'a str>,
    description: Option<&'a str>,
    instructions: Option<&'a str>,
    first_message: Option<&'a str>,
    model: Option<&'a str>,
    voice: Option<&'a Voice>,
}

/// Checks the fields given, with the same messages on creation and on a change.
fn validate(f: &Given) -> Result<()> {
    let mut check = Check::new();
    if let Some(name) = f.name {
        check.text("name", name.trim(), 1, 200);
    }
    if let Some(description) = f.description {
        check.text("description", description, 0, 2_000);
    }
    if let Some(instructions) = f.instructions {
        check.text("instructions", instructions, 0, 50_000);
    }
    if let Some(first_message) = f.first_message {
        check.text("first_message", first_message, 0, 2_000);
    }
    if let Some(model) = f.model {
        check.text("model", model, 1, 100);
    }
    if let Some(voice) = f.voice {
        check.text("voice.provider", &voice.provider, 1, 50);
        check.text("voice.voice_id", &voice.voice_id, 1, 100);
        check.text("voice.language", &voice.language, 2, 35);
        if !(0.5..=2.0).contains(&voice.speed) {
            check.fail("voice.speed", "must be between 0.5 and 2.0");
        }
    }
    Ok(check.finish()?)
}

/// Voice settings as stored: JSON text.
fn voice_json(voice: &Voice) -> Result<String> {
    Ok(serde_json::to_string(voice).map_err(anyhow::Error::from)?)
}

fn fields_with_voice(mut fields: AgentFields, voice: &Voice) -> Result<AgentFields> {
    validate(&Given {
        name: Some(&fields.name),
        description: Some(&fields.description),
        instructions: Some(&fields.instructions),
        first_message: Some(&fields.first_message),
        model: Some(&fields.model),
        voice: Some(voice),
    })?;
    fields.name = fields.name.trim().to_owned();
    fields.voice = voice_json(voice)?;
    Ok(fields)
}

/// The fields a change sends, checked and as stored; those not sent stay `None`.
fn changes(body: UpdateAgent) -> Result<AgentChanges> {
    validate(&Given {
        name: body.name.as_deref(),
        description: body.description.as_deref(),
        instructions: body.instructions.as_deref(),
        first_message: body.first_message.as_deref(),
        model: body.model.as_deref(),
        voice: body.voice.as_ref(),
    })?;
    Ok(AgentChanges {
        name: body.name.map(|name| name.trim().to_owned()),
        description: body.description,
        instructions: body.instructions,
        first_message: body.first_message,
        model: body.model,
        voice: body.voice.as_ref().map(voice_json).transpose()?,
    })
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

/// The account's agent with this id, or not found.
pub(crate) async fn find_agent(state: &AppState, account_id: &str, id: &str) -> Result<AgentRow> {
    state
        .store
        .get_agent(account_id, &found::<AgentId>(id)?)
        .await?
        .ok_or_else(|| Error::not_found("agent"))
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
    // Not found before invalid, as ever; nothing read here is written back: the
    // UPDATE changes only the fields sent, so concurrent changes of others stay.
    let current = find_agent(&state, &caller.account_id, &id).await?;
    let changes = changes(body)?;
    let row = state
        .store
        .update_agent(&caller.account_id, &current.id, &changes)
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
