//! The workspace's billing page: this month's metered usage and the billing contact.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::view::When;
use super::{PageError, PageForm, render, status_with};
use crate::domain::limits::Class;
use crate::domain::roles::Permission;
use crate::error::Error;
use crate::services;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "billing.html")]
struct BillingPage {
    nav: Nav,
    /// Start and end of the month.
    period: (When, When),
    usage: Vec<(String, i64)>,
    total: i64,
    email: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
}

async fn billing_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::BillingManage)?;
    let billing = services::billing::billing(&state.store, &signed_in.session.account_id).await?;
    let page = BillingPage {
        nav: signed_in.nav(),
        period: (
            When::at(&billing.period.start),
            When::at(&billing.period.end),
        ),
        usage: billing
            .usage
            .by_class
            .into_iter()
            .map(|(class, n)| {
                let label = Class::parse(&class).map_or(class, |c| c.label().to_owned());
                (label, n)
            })
            .collect(),
        total: billing.usage.requests,
        email: billing.billing_email.unwrap_or_default(),
        notice,
        error,
    };
    Ok(render(status_with(&error), &page))
}

pub async fn billing(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    billing_page(&state, &signed_in, None, None).await
}

#[derive(Deserialize)]
pub struct BillingForm {
    csrf_token: String,
    email: String,
}

pub async fn update_billing(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<BillingForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::BillingManage)?;
    let sent = Some(form.email.trim()).filter(|e| !e.is_empty());
    let account_id = &signed_in.session.account_id;
    match services::billing::set_contact(&state.store, account_id, sent, &signed_in.actor()).await {
        Err(Error::Invalid { .. }) => {
            let error =
                Some("Enter an email address such as billing@example.com, or leave it empty.");
            return billing_page(&state, &signed_in, None, error).await;
        }
        done => done?,
    }
    billing_page(&state, &signed_in, Some("Billing contact saved."), None).await
}
