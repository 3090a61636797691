//! `/knowledge`: documents an agent answers from, sent as JSON or uploaded as a
//! `.txt`, `.md` or `.json` file (multipart). The built-in engine retrieves from them.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiPath, ApiQuery, ErrorResponses};
use crate::api::found;
use crate::auth::Caller;
use crate::domain::ids::KnowledgeId;
use crate::domain::knowledge::Knowledge;
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::{Error, Result};
use crate::gate::Gated;
use crate::services::agents::find_agent;
use crate::services::knowledge::{add, file_text, too_large, unreadable};
use crate::state::AppState;

/// The routes, behind the gate: uploads spend the `knowledge_upload` budget,
/// reading and deleting the `other` one.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(add_knowledge))
        .gated(state, Class::KnowledgeUpload);
    OpenApiRouter::new()
        .routes(routes!(list_knowledge))
        .routes(routes!(delete_knowledge))
        .gated(state, Class::Other)
        .merge(uploads)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KnowledgeList {
    pub data: Vec<Knowledge>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddKnowledge {
    pub agent_id: String,
    pub title: String,
    /// At most 512 KiB.
    pub text: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgentQuery {
    pub agent_id: String,
}

/// Reads a multipart upload: fields `agent_id`, `file` and, optionally, `title`.
async fn from_upload(mut form: Multipart) -> Result<AddKnowledge> {
    let (mut agent_id, mut title, mut file) = (None, None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| unreadable(format!("The multipart body could not be read: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            _ => unreadable(format!("The multipart body could not be read: {e}")),
        })?;
        let text = || {
            String::from_utf8(bytes.to_vec())
                .map_err(|_| unreadable(format!("The field {name} is not UTF-8 text.")))
        };
        match name.as_str() {
            "agent_id" => agent_id = Some(text()?),
            "title" => title = Some(text()?),
            "file" => file = Some((file_name.unwrap_or_default(), bytes)),
            _ => {
                return Err(unreadable(format!(
                    "Unknown field {name:?}: send agent_id, title and file."
                )));
            }
        }
    }
    let (file_name, bytes) =
        file.ok_or_else(|| unreadable("Send the document in a field named file."))?;
    let text = file_text(&file_name, &bytes)?;
    Ok(AddKnowledge {
        agent_id: agent_id.unwrap_or_default(),
        title: title.unwrap_or(file_name),
        text,
    })
}

/// Add a document to an agent's knowledge: JSON `{agent_id, title, text}`, or a
/// multipart upload with `agent_id`, `file` (.txt, .md or .json) and `title`.
#[utoipa::path(post, path = "/knowledge", tag = "knowledge", request_body = AddKnowledge,
    responses((status = 201, body = Knowledge), ErrorResponses), security(("api_key" = [])))]
async fn add_knowledge(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<Knowledge>)> {
    caller.require(Permission::AgentsWrite)?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let body = if multipart {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| unreadable(e.body_text()))?;
        from_upload(form).await?
    } else {
        let ApiJson(body) = ApiJson::<AddKnowledge>::from_request(request, &state).await?;
        body
    };
    let document = add(
        &state,
        &caller.account_id,
        &body.agent_id,
        &body.title,
        &body.text,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(document)))
}

/// An agent's documents, oldest first.
#[utoipa::path(get, path = "/knowledge", tag = "knowledge", params(AgentQuery),
    responses((status = 200, body = KnowledgeList), ErrorResponses), security(("api_key" = [])))]
async fn list_knowledge(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AgentQuery>,
) -> Result<Json<KnowledgeList>> {
    caller.require(Permission::AgentsRead)?;
    find_agent(&state, &caller.account_id, &query.agent_id).await?;
    let data = state
        .store
        .knowledge_entries(&caller.account_id, &query.agent_id)
        .await?;
    Ok(Json(KnowledgeList { data }))
}

/// Remove a document.
#[utoipa::path(delete, path = "/knowledge/{id}", tag = "knowledge", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted"), ErrorResponses), security(("api_key" = [])))]
async fn delete_knowledge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode> {
    caller.require(Permission::AgentsWrite)?;
    let id = found::<KnowledgeId>(&id)?;
    if state
        .store
        .delete_knowledge(&caller.account_id, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("document"))
    }
}
