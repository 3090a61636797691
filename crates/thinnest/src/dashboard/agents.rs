//! Agents in the dashboard: the list (searched, in pages, with a getting-started
//! checklist on an empty workspace), making one, changing and deleting it.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::agent_tabs::{AgentHead, Tab, agent_or_404};
use super::session::{Nav, SignedIn};
use super::view::{DoneQuery, Problems, When, page_of};
use super::{Asked, CsrfForm, PageError, PageForm, render};
use crate::domain::agents::{Agent, AgentName, CreateAgent, UpdateAgent, Voice};
use crate::domain::fields::TextField;
use crate::domain::ids::{AgentId, Id};
use crate::domain::roles::Permission;
use crate::state::AppState;
use crate::store::api_keys::KeyScope;

/// Agents a page of the list shows, and fetched for it (one more tells of a next page).
const PAGE: usize = 20;
const FETCH: i64 = 21;

/// An agent as the list shows it.
struct AgentLine {
    id: String,
    name: String,
    model: String,
    updated: When,
}

/// A step of the getting-started checklist, and whether it is done.
struct Step {
    label: &'static str,
    href: &'static str,
    done: bool,
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    nav: Nav,
    agents: Vec<AgentLine>,
    query: String,
    /// The cursor of the next (older) page, if there is one.
    older: Option<String>,
    /// This is not the first page.
    paged: bool,
    can_edit: bool,
    /// Shown until every step is done.
    steps: Vec<Step>,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    before: Option<String>,
    done: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Asked(query): Asked<ListQuery>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let account = &signed_in.session.account_id;
    // No name is longer than its limit, so neither is a search worth running.
    let text = query.q.trim();
    let text = match text.char_indices().nth(AgentName::MAX) {
        Some((cut, _)) => &text[..cut],
        None => text,
    };
    let before = query
        .before
        .as_deref()
        .filter(|b| AgentId::parse(b).is_some());
    let mut rows = state
        .store
        .search_agents(account, text, before, FETCH)
        .await?;
    let older = page_of(&mut rows, PAGE, |a| a.id.to_string());
    let steps = checklist(&state, &signed_in).await?;
    let page = AgentsPage {
        nav: signed_in.nav(),
        agents: rows
            .into_iter()
            .map(|a| AgentLine {
                updated: When::at(&a.updated_at),
                id: a.id.into(),
                name: a.name,
                model: a.model,
            })
            .collect(),
        query: text.to_owned(),
        older,
        paged: before.is_some(),
        can_edit: Permission::AgentsWrite.allowed_for(signed_in.role()),
        steps,
        notice: match query.done.as_deref() {
            Some("deleted") => Some("Agent deleted."),
            _ => None,
        },
    };
    Ok(render(StatusCode::OK, &page))
}

/// The getting-started steps, while any is left: make an agent, make a key, talk to
/// the agent (through the widget or the API). Empty once all are done, and for a
/// Viewer, who can do none of them.
async fn checklist(state: &AppState, signed_in: &SignedIn) -> Result<Vec<Step>, PageError> {
    if !Permission::AgentsWrite.allowed_for(signed_in.role()) {
        return Ok(Vec::new());
    }
    let account = &signed_in.session.account_id;
    let has_agent = !state.store.list_agents(account, None, 1).await?.is_empty();
    let has_key = !state
        .store
        .list_keys(account, KeyScope::All)
        .await?
        .is_empty();
    // A test chat in the dashboard does not count: the step is talking from outside.
    let talked = state
        .store
        .conversations(account, "", None, 50)
        .await?
        .iter()
        .any(|c| c.channel != "dashboard");
    if has_agent && has_key && talked {
        return Ok(Vec::new());
    }
    Ok(vec![
        Step {
            label: "Create an agent",
            href: "/app/agents/new",
            done: has_agent,
        },
        Step {
            label: "Create an API key",
            href: "/app/settings/api-keys",
            done: has_key,
        },
        Step {
            label: "Embed the chat widget on your site, or call the API",
            href: "/docs",
            done: talked,
        },
    ])
}

/// What an agent's form holds, as typed.
#[derive(Deserialize, Default)]
pub struct AgentForm {
    #[serde(default)]
    csrf_token: String,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    first_message: String,
    model: String,
    voice_provider: String,
    voice_id: String,
    language: String,
    speed: String,
}

impl AgentForm {
    fn of(agent: &Agent) -> AgentForm {
        AgentForm {
            csrf_token: String::new(),
            name: agent.name.clone(),
            description: agent.description.clone(),
            instructions: agent.instructions.clone(),
            first_message: agent.first_message.clone(),
            model: agent.model.clone(),
            voice_provider: agent.voice.provider.clone(),
            voice_id: agent.voice.voice_id.clone(),
            language: agent.voice.language.clone(),
            speed: agent.voice.speed.to_string(),
        }
    }

    fn fresh() -> AgentForm {
        let voice = Voice::default();
        AgentForm {
            model: crate::domain::agents::DEFAULT_MODEL.to_owned(),
            voice_provider: voice.provider,
            voice_id: voice.voice_id,
            language: voice.language,
            speed: voice.speed.to_string(),
            ..AgentForm::default()
        }
    }

    /// The voice typed, or the problem of its speed.
    fn voice(&self) -> Result<Voice, Problems> {
        let speed = self.speed.trim().parse::<f64>().map_err(|_| {
            Problems::one(
                "voice.speed",
                "Speaking rate must be a number between 0.5 and 2.0.",
            )
        })?;
        Ok(Voice {
            provider: self.voice_provider.trim().to_owned(),
            voice_id: self.voice_id.trim().to_owned(),
            language: self.language.trim().to_owned(),
            speed,
        })
    }
}

/// A field's label, for its problem.
fn label(field: &str) -> &'static str {
    match field {
        "name" => "Name",
        "description" => "Description",
        "instructions" => "Instructions",
        "first_message" => "First message",
        "model" => "Model",
        "voice.provider" => "Voice provider",
        "voice.voice_id" => "Voice",
        "voice.language" => "Language",
        "voice.speed" => "Speaking rate",
        _ => "This field",
    }
}

#[derive(Template)]
#[template(path = "agent_form.html")]
struct AgentFormPage {
    nav: Nav,
    /// Set when an existing agent is changed: its tabs.
    agent: Option<AgentHead>,
    form: AgentForm,
    problems: Problems,
    can_edit: bool,
    notice: Option<&'static str>,
}

fn form_page(
    signed_in: &SignedIn,
    agent: Option<AgentHead>,
    form: AgentForm,
    problems: Problems,
    notice: Option<&'static str>,
) -> Response {
    let status = problems.status();
    let page = AgentFormPage {
        nav: signed_in.nav(),
        agent,
        form,
        problems,
        can_edit: Permission::AgentsWrite.allowed_for(signed_in.role()),
        notice,
    };
    render(status, &page)
}

pub async fn new_page(signed_in: SignedIn) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsWrite)?;
    Ok(form_page(
        &signed_in,
        None,
        AgentForm::fresh(),
        Problems::default(),
        None,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<AgentForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let voice = match form.voice() {
        Ok(voice) => voice,
        Err(problems) => return Ok(form_page(&signed_in, None, form, problems, None)),
    };
    let request = CreateAgent {
        name: form.name.clone(),
        description: form.description.clone(),
        instructions: form.instructions.clone(),
        first_message: form.first_message.clone(),
        model: Some(form.model.trim().to_owned()),
        voice: Some(voice),
    };
    let new = match request.checked() {
        Ok(new) => new,
        Err(invalid) => {
            let problems = Problems::from_error(invalid.into(), label)?;
            return Ok(form_page(&signed_in, None, form, problems, None));
        }
    };
    let agent = state
        .store
        .insert_agent(&signed_in.session.account_id, &new)
        .await?;
    Ok(Redirect::to(&format!("/app/agents/{}?done=created", agent.id)).into_response())
}

pub async fn settings(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Asked(query): Asked<DoneQuery>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let notice = (query.done.as_deref() == Some("saved")).then_some("Changes saved.");
    let form = AgentForm::of(&agent);
    let head = AgentHead::new(&agent, Tab::Settings);
    Ok(form_page(
        &signed_in,
        Some(head),
        form,
        Problems::default(),
        notice,
    ))
}

pub async fn save(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<AgentForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let account = &signed_in.session.account_id;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let head = AgentHead::new(&agent, Tab::Settings);
    let voice = match form.voice() {
        Ok(voice) => voice,
        Err(problems) => return Ok(form_page(&signed_in, Some(head), form, problems, None)),
    };
    let request = UpdateAgent {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        instructions: Some(form.instructions.clone()),
        first_message: Some(form.first_message.clone()),
        model: Some(form.model.trim().to_owned()),
        voice: Some(voice),
    };
    let changes = match request.checked() {
        Ok(changes) => changes,
        Err(invalid) => {
            let problems = Problems::from_error(invalid.into(), label)?;
            return Ok(form_page(&signed_in, Some(head), form, problems, None));
        }
    };
    state
        .store
        .update_agent(account, &agent.id, &changes)
        .await?
        .ok_or(PageError::NotFound)?;
    let to = format!("/app/agents/{}/settings?done=saved", agent.id);
    Ok(Redirect::to(&to).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let id = AgentId::parse(&id).ok_or(PageError::NotFound)?;
    if !state
        .store
        .delete_agent(&signed_in.session.account_id, &id)
        .await?
    {
        return Err(PageError::NotFound);
    }
    Ok(Redirect::to("/app?done=deleted").into_response())
}
