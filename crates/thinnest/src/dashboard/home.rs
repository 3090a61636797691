//! The signed-in home page: the workspace's agents.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::session::{Nav, SignedIn};
use super::{PageError, render};
use crate::domain::roles::Permission;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    /// Id, name, model, last update.
    agents: Vec<(String, String, String, String)>,
}

pub async fn home(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let rows = state
        .store
        .list_agents(&signed_in.session.account_id, None, 100)
        .await?;
    let agents = rows
        .into_iter()
        .map(|a| (a.id.into(), a.name, a.model, a.updated_at))
        .collect();
    let page = HomePage {
        nav: signed_in.nav(),
        agents,
    };
    Ok(render(StatusCode::OK, &page))
}
