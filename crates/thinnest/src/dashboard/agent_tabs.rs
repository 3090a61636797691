//! An agent's page and its tabs: Overview (with a test chat that talks to the agent
//! as a visitor would), Tools, Conversations; Knowledge and Settings live in their
//! own modules.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::view::{Problems, When, page_of};
use super::{Asked, PageError, PageForm, render};
use crate::domain::agents::Agent;
use crate::domain::conversations::{
    Channel, Conversation, Message, NewConversation, Thread, check_message,
};
use crate::domain::fields::Check;
use crate::domain::ids::{ConversationId, Id};
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::domain::widget::Visitor;
use crate::error::Error;
use crate::services::agents::find_agent;
use crate::services::conversations::converse;
use crate::state::AppState;

/// The tabs of an agent's page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Knowledge,
    Tools,
    Conversations,
    Settings,
}

/// What every tab shows above itself: the agent's name and the tabs.
pub struct AgentHead {
    pub id: String,
    pub name: String,
    /// Path after `/app/agents/{id}`, label, current.
    pub tabs: Vec<(&'static str, &'static str, bool)>,
}

impl AgentHead {
    pub fn new(agent: &Agent, at: Tab) -> AgentHead {
        let tabs = [
            ("", "Overview", Tab::Overview),
            ("/knowledge", "Knowledge", Tab::Knowledge),
            ("/tools", "Tools", Tab::Tools),
            ("/conversations", "Conversations", Tab::Conversations),
            ("/settings", "Settings", Tab::Settings),
        ];
        AgentHead {
            id: agent.id.to_string(),
            name: agent.name.clone(),
            tabs: tabs
                .into_iter()
                .map(|(path, label, tab)| (path, label, tab == at))
                .collect(),
        }
    }
}

/// The account's agent `id`, or the not-found page.
pub async fn agent_or_404(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
) -> Result<Agent, PageError> {
    // Not found is a page; a store that fails stays a failure, not a 404.
    find_agent(state, &signed_in.session.account_id, id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => PageError::NotFound,
            other => PageError::Internal(other.into()),
        })
}

#[derive(Template)]
#[template(path = "agent_overview.html")]
struct OverviewPage {
    nav: Nav,
    agent: AgentHead,
    details: Agent,
    documents: usize,
    /// The test chat's conversation, when one is going on.
    conversation: Option<String>,
    messages: Vec<Message>,
    can_chat: bool,
    problems: Problems,
    typed: String,
    notice: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    conversation: Option<String>,
    done: Option<String>,
}

/// The account's test-chat conversation `id` with `agent`, if it is one.
async fn test_conversation(
    state: &AppState,
    signed_in: &SignedIn,
    agent: &Agent,
    id: Option<&str>,
) -> Result<Option<Conversation>, PageError> {
    let Some(id) = id.and_then(ConversationId::parse) else {
        return Ok(None);
    };
    Ok(state
        .store
        .conversation(&signed_in.session.account_id, &id)
        .await?
        .filter(|c| c.agent_id == agent.id && c.channel == "dashboard"))
}

async fn overview_page(
    state: &AppState,
    signed_in: &SignedIn,
    agent: Agent,
    conversation: Option<Conversation>,
    problems: Problems,
    typed: String,
    notice: Option<&'static str>,
) -> Result<Response, PageError> {
    let account = &signed_in.session.account_id;
    let documents = state
        .store
        .knowledge_entries(account, &agent.id)
        .await?
        .len();
    let messages = match &conversation {
        Some(c) => state.store.messages(&c.id).await?,
        None => Vec::new(),
    };
    let status = problems.status();
    let page = OverviewPage {
        nav: signed_in.nav(),
        agent: AgentHead::new(&agent, Tab::Overview),
        details: agent,
        documents,
        conversation: conversation.map(|c| c.id.to_string()),
        messages,
        can_chat: Permission::AgentsWrite.allowed_for(signed_in.role()),
        problems,
        typed,
        notice,
    };
    Ok(render(status, &page))
}

pub async fn overview(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Asked(query): Asked<OverviewQuery>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let conversation =
        test_conversation(&state, &signed_in, &agent, query.conversation.as_deref()).await?;
    let notice = (query.done.as_deref() == Some("created")).then_some("Agent created.");
    overview_page(
        &state,
        &signed_in,
        agent,
        conversation,
        Problems::default(),
        String::new(),
        notice,
    )
    .await
}

#[derive(Deserialize)]
pub struct ChatForm {
    csrf_token: String,
    message: String,
    #[serde(default)]
    conversation: String,
}

/// The test chat: the message goes to the agent through the same path as the
/// widget's and the API's, in a conversation of the `dashboard` channel.
pub async fn chat(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<ChatForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::AgentsWrite)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let ongoing = test_conversation(&state, &signed_in, &agent, Some(&form.conversation)).await?;
    let mut check = Check::new();
    check_message(&mut check, &form.message);
    if let Err(invalid) = check.finish() {
        let problems = Problems::from_error(invalid.into(), |_| "Your message")?;
        return overview_page(
            &state,
            &signed_in,
            agent,
            ongoing,
            problems,
            form.message,
            None,
        )
        .await;
    }
    // The account's conversation budget, which its API keys spend too.
    crate::gate::spend(&state, &signed_in.session.account_id, Class::Conversation)
        .await
        .map_err(PageError::Limited)?;
    let thread = match ongoing.clone() {
        Some(conversation) if conversation.ended_at.is_none() => Thread::Ongoing(conversation),
        _ => Thread::New(NewConversation::new(
            agent.id.clone(),
            Channel::Dashboard,
            &Visitor::default(),
        )),
    };
    let account = &signed_in.session.account_id;
    match converse(&state, account, &agent, &thread, &form.message, None).await {
        Ok((conversation, _)) => {
            let to = format!("/app/agents/{}?conversation={conversation}#chat", agent.id);
            Ok(Redirect::to(&to).into_response())
        }
        Err(Error::Coded {
            code: "engine_unavailable",
            ..
        }) => {
            let problems = Problems::whole(
                "The agent's language model did not answer. Try again in a moment.",
            );
            overview_page(
                &state,
                &signed_in,
                agent,
                ongoing,
                problems,
                form.message,
                None,
            )
            .await
        }
        Err(e) => Err(PageError::Internal(e.into())),
    }
}

#[derive(Template)]
#[template(path = "agent_tools.html")]
struct ToolsPage {
    nav: Nav,
    agent: AgentHead,
}

pub async fn tools(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let page = ToolsPage {
        nav: signed_in.nav(),
        agent: AgentHead::new(&agent, Tab::Tools),
    };
    Ok(render(StatusCode::OK, &page))
}

/// A conversation as a list shows it.
struct ConversationLine {
    id: String,
    channel: &'static str,
    who: String,
    started: When,
    updated: When,
    ended: bool,
}

/// Where a conversation took place, in words.
fn channel_name(channel: &str) -> &'static str {
    match channel {
        "widget" => "Website chat",
        "dashboard" => "Test chat",
        _ => "API",
    }
}

#[derive(Template)]
#[template(path = "agent_conversations.html")]
struct ConversationsPage {
    nav: Nav,
    agent: AgentHead,
    conversations: Vec<ConversationLine>,
    older: Option<String>,
    paged: bool,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    before: Option<String>,
}

/// Conversations a page of the list shows.
const PAGE: usize = 25;

pub async fn conversations(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Asked(query): Asked<PageQuery>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let before = query
        .before
        .as_deref()
        .filter(|b| ConversationId::parse(b).is_some());
    let fetch = i64::try_from(PAGE + 1).unwrap_or(i64::MAX);
    let mut rows = state
        .store
        .conversations(&signed_in.session.account_id, &agent.id, before, fetch)
        .await?;
    let older = page_of(&mut rows, PAGE, |c| c.id.to_string());
    let conversations = rows
        .into_iter()
        .map(|c| ConversationLine {
            channel: channel_name(&c.channel),
            who: match (&c.user_name, &c.user_email, &c.user_id) {
                (Some(name), Some(email), _) => format!("{name} <{email}>"),
                (Some(name), None, _) => name.clone(),
                (None, Some(email), _) => email.clone(),
                (None, None, Some(id)) => id.clone(),
                (None, None, None) => "Anonymous".to_owned(),
            },
            started: When::at(&c.created_at),
            updated: When::at(&c.updated_at),
            ended: c.ended_at.is_some(),
            id: c.id.into(),
        })
        .collect();
    let page = ConversationsPage {
        nav: signed_in.nav(),
        agent: AgentHead::new(&agent, Tab::Conversations),
        conversations,
        older,
        paged: before.is_some(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "agent_transcript.html")]
struct TranscriptPage {
    nav: Nav,
    agent: AgentHead,
    channel: &'static str,
    started: When,
    messages: Vec<(Message, When)>,
}

pub async fn transcript(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, conversation)): Path<(String, String)>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let agent = agent_or_404(&state, &signed_in, &id).await?;
    let conversation = ConversationId::parse(&conversation).ok_or(PageError::NotFound)?;
    let conversation = state
        .store
        .conversation(&signed_in.session.account_id, &conversation)
        .await?
        .filter(|c| c.agent_id == agent.id)
        .ok_or(PageError::NotFound)?;
    let messages = state
        .store
        .messages(&conversation.id)
        .await?
        .into_iter()
        .map(|m| {
            let at = When::at(&m.created_at);
            (m, at)
        })
        .collect();
    let page = TranscriptPage {
        nav: signed_in.nav(),
        agent: AgentHead::new(&agent, Tab::Conversations),
        channel: channel_name(&conversation.channel),
        started: When::at(&conversation.created_at),
        messages,
    };
    Ok(render(StatusCode::OK, &page))
}
