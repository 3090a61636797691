//! Settings > Integrations: the outside accounts the workspace's agents act through.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::session::{Nav, SignedIn};
use super::{PageError, render};
use crate::domain::roles::Permission;

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    nav: Nav,
}

pub async fn integrations(signed_in: SignedIn) -> Result<Response, PageError> {
    signed_in.require(Permission::AgentsRead)?;
    let page = IntegrationsPage {
        nav: signed_in.nav(),
    };
    Ok(render(StatusCode::OK, &page))
}
