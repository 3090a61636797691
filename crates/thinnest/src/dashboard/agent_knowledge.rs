//! An agent's Knowledge tab: its documents, added as pasted text or an uploaded
//! `.txt`, `.md` or `.json` file, and deleted.

use askama::Template;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::agent_tabs::{AgentHead, Tab, agent_or_404};
use super::session::{Nav, SignedIn};
use super::view::{DoneQuery, Problems, When};
use super::{Asked, CsrfForm, PageError, PageForm, render};
use crate::domain::agents::Agent;
use crate::domain::ids::{Id, KnowledgeId};
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::Error;
use crate::services::knowledge::{add, file_text};
use crate::state::AppState;

/// A document as the tab lists it.
struct DocumentLine {
    id: String,
    title: String,
    size: String,
    added: When,
}

#[derive(Template)]
#[template(path = "agent_knowledge.html")]
struct KnowledgePage {
    nav: Nav,
    agent: AgentHead,
    documents: Vec<DocumentLine>,
    can_edit: bool,
    problems: Problems,
    /// What was typed into the paste form, kept after a problem.
    title: String,
    text: String,
    notice: Option<&'static str>,
}

/// A size in words: bytes, KB or MB.
fn size(bytes: usize) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1_000.0),
        _ => format!("{:.1} MB", bytes as f64 / 1_000_000.0),
    }
}

async fn page(
    state: &AppState,
    signed_in: &SignedIn,
    agent: &Agent,
    problems: Problems,
    typed: (String, String),
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let documents = state
        .store
        .knowledge_entries(&signed_in.session.account_id, &agent.id)
        .await?
        .into_iter()
        .map(|k| DocumentLine {
            id: k.id.to_string(),
            title: k.title,
            size: size(k.bytes),
            added: When::at(&k.created_at),
        })
        .collect();
    let status = problems.status();
    let page = KnowledgePage {
        nav: signed_in.nav(),
        agent: AgentHead::new(agent, Tab::Knowledge),
        documents,
        can_edit: Permission::AgentsWrite.allowed_for(signed_in.role()),
        problems,
        title: typed.0,
        text: typed.1,
        notice,
    };
    Ok(render(status, &page))
}

pub async fn knowledge(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Asked(query): Asked<DoneQuery>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let notice = match query.done.as_deref() {
        Some("added") => Some("Document added. The agent answers from it now."),
        Some("deleted") => Some("Document deleted."),
        _ => None,
    };
    let typed = (String::new(), String::new());
    page(
        &state,
        &signed_in,
        &agent,
        Problems::default(),
        typed,
        notice,
    )
    .await
}

/// A field's label, for its problem.
fn label(field: &str) -> &'static str {
    match field {
        "title" => "Title",
        "text" => "Text",
        _ => "This document",
    }
}

/// Adds the document, or shows the tab again with what is wrong and what was typed.
async fn added(
    state: &AppState,
    signed_in: &SignedIn,
    agent: &Agent,
    title: String,
    text: Result<String, Error>,
) -> Result<Response, PageError> {
    let account = &signed_in.session.account_id;
    // The account's upload budget, which its API keys spend too.
    crate::gate::spend(state, account, Class::KnowledgeUpload)
        .await
        .map_err(PageError::Limited)?;
    let outcome = match text {
        Ok(text) => add(state, account, &agent.id, &title, &text)
            .await
            .map_err(|e| (e, text)),
        Err(e) => Err((e, String::new())),
    };
    let (error, text) = match outcome {
        Ok(_) => {
            let to = format!("/app/agents/{}/knowledge?done=added", agent.id);
            return Ok(Redirect::to(&to).into_response());
        }
        Err(failed) => failed,
    };
    let problems = match error {
        Error::Invalid { .. } => Problems::from_error(error, label)?,
        Error::Coded { message, .. } => Problems::whole(message),
        other => return Err(PageError::Internal(other.into())),
    };
    page(state, signed_in, agent, problems, (title, text), None).await
}

#[derive(Deserialize)]
pub struct PasteForm {
    csrf_token: String,
    title: String,
    text: String,
}

pub async fn paste(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<PasteForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    added(&state, &signed_in, &agent, form.title, Ok(form.text)).await
}

/// An upload: `csrf_token` first, then `title` (optional) and `file`.
pub async fn upload(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, PageError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        PageError::Unreadable(format!("The upload could not be read: {}", e.body_text()))
    };
    let mut form = Multipart::from_request(request, &state)
        .await
        .map_err(|e| PageError::Unreadable(e.body_text()))?;
    // The token comes first and is checked before anything else is read.
    let first = form.next_field().await.map_err(unreadable)?;
    let Some(first) = first.filter(|f| f.name() == Some("csrf_token")) else {
        return Err(PageError::BadForm);
    };
    let token = first.text().await.map_err(unreadable)?;
    signed_in.check_csrf(&token)?;
    let (mut title, mut file) = (String::new(), None);
    while let Some(field) = form.next_field().await.map_err(unreadable)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(unreadable)?;
        match name.as_str() {
            "title" => title = String::from_utf8_lossy(&bytes).trim().to_owned(),
            "file" => file = Some((file_name, bytes)),
            _ => {}
        }
    }
    signed_in.require(Permission::AgentsWrite)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let Some((file_name, bytes)) = file.filter(|(name, _)| !name.is_empty()) else {
        let problems = Problems::one("file", "Choose a file to upload.");
        let typed = (title, String::new());
        return page(&state, &signed_in, &agent, problems, typed, None).await;
    };
    let title = if title.is_empty() {
        file_name.clone()
    } else {
        title
    };
    added(
        &state,
        &signed_in,
        &agent,
        title,
        file_text(&file_name, &bytes),
    )
    .await
}

pub async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, document)): Path<(String, String)>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let document = KnowledgeId::parse(&document).ok_or(PageError::NotFound)?;
    let entries = state
        .store
        .knowledge_entries(&signed_in.session.account_id, &agent.id)
        .await?;
    if !entries.iter().any(|k| k.id == document) {
        return Err(PageError::NotFound);
    }
    state
        .store
        .delete_knowledge(&signed_in.session.account_id, &document)
        .await?;
    let to = format!("/app/agents/{}/knowledge?done=deleted", agent.id);
    Ok(Redirect::to(&to).into_response())
}
