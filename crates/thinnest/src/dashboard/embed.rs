//! An agent's website chat: the snippet to paste, the Allowed Origins, whether
//! visitors' identities are verified, and how to compute a user hash on a server.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::agent_tabs::{AgentHead, Tab, agent_or_404};
use super::session::{Nav, SignedIn};
use super::{PageError, PageForm, form_problem, render, status_with};
use crate::domain::agents::Agent;
use crate::domain::embed::{Embed, Verification};
use crate::domain::ids::Id;
use crate::domain::roles::Permission;
use crate::error::Error;
use crate::services::embed::{save, settings};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "embed.html")]
struct EmbedPage {
    nav: Nav,
    agent: AgentHead,
    /// Where the script is served from.
    base: String,
    origins: String,
    verification: &'static str,
    can_edit: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    signed_in: &SignedIn,
    agent: Agent,
    notice: Option<&'static str>,
    error: Option<String>,
    shown: Option<Embed>,
) -> Result<Response, PageError> {
    let embed = match shown {
        Some(embed) => embed,
        None => settings(&state.store, &signed_in.session.account_id, &agent.id).await?,
    };
    let page = EmbedPage {
        nav: signed_in.nav(),
        agent: AgentHead::new(&agent, Tab::Settings),
        base: state.link_base().to_owned(),
        origins: embed.allowed_origins.join("\n"),
        verification: embed.identity_verification.as_str(),
        can_edit: Permission::AgentsWrite.allowed_for(signed_in.role()),
        notice,
        error,
    };
    Ok(render(status_with(&page.error), &page))
}

pub async fn embed(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    page(&state, &signed_in, agent, None, None, None).await
}

#[derive(Deserialize)]
pub struct EmbedForm {
    csrf_token: String,
    /// One origin per line.
    origins: String,
    identity_verification: Verification,
}

pub async fn save_embed(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<EmbedForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let account = &signed_in.session.account_id;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let sent = Embed {
        allowed_origins: form
            .origins
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        identity_verification: form.identity_verification,
    };
    match save(&state.store, account, &agent.id, sent.clone()).await {
        Ok(saved) => page(&state, &signed_in, agent, Some("Saved."), None, Some(saved)).await,
        Err(e) => {
            let error = in_words(e)?;
            page(&state, &signed_in, agent, None, Some(error), Some(sent)).await
        }
    }
}

/// The page's old address: bookmarks and links to it keep working.
pub async fn moved(Path(id): Path<String>) -> Result<Response, PageError> {
    let id = crate::domain::ids::AgentId::parse(&id).ok_or(PageError::NotFound)?;
    Ok(Redirect::permanent(&format!("/app/agents/{id}/settings/embed")).into_response())
}

/// The problems of the origins typed, by line: `allowed_origins[0]` is line 1.
fn in_words(error: Error) -> Result<String, PageError> {
    let Error::Invalid { fields, .. } = error else {
        return form_problem(error);
    };
    let lines = fields.into_iter().map(|(field, problem)| {
        let line = field
            .strip_prefix("allowed_origins[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok());
        match line {
            Some(at) => format!("Line {}: {problem}.", at + 1),
            None => format!("Allowed Origins {problem}."),
        }
    });
    Ok(lines.collect::<Vec<_>>().join(" "))
}
