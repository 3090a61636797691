//! Settings > Webhooks: the signing secret (reveal, copy, rotate), endpoints with
//! their status, and each endpoint's recent deliveries with request and response,
//! test events and redelivery. Admins only; the work is the API's.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::{Nav, SignedIn};
use super::view::{Problems, When};
use super::{CsrfForm, PageError, PageForm, form_problem, render, status_with};
use crate::domain::deliveries::{Attempt, LoggedDelivery};
use crate::domain::events::EVENT_TYPES;
use crate::domain::fields::Check;
use crate::domain::roles::Permission;

use crate::domain::webhooks::{CreateEndpoint, Endpoint, MAX_GRACE_SECONDS, UpdateEndpoint};
use crate::error::Error;
use crate::services::webhooks as api;
use crate::services::webhooks::signing_secrets;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    nav: Nav,
    secret: String,
    previous_until: Option<When>,
    endpoints: Vec<Endpoint>,
    notice: Option<String>,
    problems: Problems,
    /// The new-endpoint form as typed, kept after a problem.
    typed: NewEndpointForm,
}

/// A new-endpoint field's label, for its problem.
fn label(field: &str) -> &'static str {
    match field {
        "url" => "URL",
        "events" => "Events",
        "description" => "Description",
        _ => "This field",
    }
}

async fn webhooks_page(
    state: &AppState,
    signed_in: &SignedIn,
    notice: Option<String>,
    problems: Problems,
    typed: NewEndpointForm,
) -> Result<Response, PageError> {
    signed_in.require(Permission::WebhooksManage)?;
    let account = &signed_in.session.account_id;
    let secrets = signing_secrets(state, account).await?;
    let endpoints = state.store.webhook_endpoints(account).await?;
    let status = problems.status();
    let page = WebhooksPage {
        nav: signed_in.nav(),
        secret: secrets.current.expose().to_owned(),
        previous_until: secrets.previous.map(|(_, until)| When::at_ms(until)),
        endpoints,
        notice,
        problems,
        typed,
    };
    Ok(render(status, &page))
}

pub async fn webhooks(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    webhooks_page(
        &state,
        &signed_in,
        None,
        Problems::default(),
        NewEndpointForm::default(),
    )
    .await
}

#[derive(Deserialize)]
pub struct NewEndpointForm {
    #[serde(default)]
    csrf_token: String,
    url: String,
    /// `*`, or event types separated by commas or spaces.
    events: String,
    description: String,
}

pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<NewEndpointForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::WebhooksManage)?;
    let body = CreateEndpoint {
        url: form.url.trim().to_owned(),
        events: form
            .events
            .split([',', ' '])
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
        description: Some(form.description.trim().to_owned()),
        enabled: Some(true),
    };
    let account = &signed_in.session.account_id;
    match api::create(&state, account, &signed_in.actor(), body).await {
        Ok(row) => {
            let notice = format!("Endpoint {} added.", row.id);
            settle_list(&state, &signed_in, Ok(notice)).await
        }
        Err(e) => {
            let problems = Problems::from_error(e, label)?;
            webhooks_page(&state, &signed_in, None, problems, form).await
        }
    }
}

impl Default for NewEndpointForm {
    fn default() -> Self {
        NewEndpointForm {
            csrf_token: String::new(),
            url: String::new(),
            events: "*".to_owned(),
            description: String::new(),
        }
    }
}

/// Shows the webhooks page after an action, with its notice or its error.
async fn settle_list(
    state: &AppState,
    signed_in: &SignedIn,
    outcome: Result<String, Error>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(notice) => {
            let typed = NewEndpointForm::default();
            webhooks_page(state, signed_in, Some(notice), Problems::default(), typed).await
        }
        Err(e) => {
            let problems = Problems::whole(form_problem(e)?);
            webhooks_page(state, signed_in, None, problems, NewEndpointForm::default()).await
        }
    }
}

#[derive(Deserialize)]
pub struct RotateForm {
    csrf_token: String,
    grace_hours: u64,
}

pub async fn rotate(
    State(state): State<AppState>,
    signed_in: SignedIn,
    PageForm(form): PageForm<RotateForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::WebhooksManage)?;
    // Checked here, in the form's own unit, so that the message names its field.
    let most = MAX_GRACE_SECONDS / 3600;
    let mut check = Check::new();
    if form.grace_hours > most {
        check.fail("grace_hours", format!("must be between 0 and {most}"));
    }
    let account = &signed_in.session.account_id;
    let outcome = match check.finish() {
        Ok(()) => api::rotate(&state, account, &signed_in.actor(), form.grace_hours * 3600).await,
        Err(e) => Err(e.into()),
    };
    let notice =
        "New signing secret made. Update your receivers before the old one stops counting.";
    settle_list(&state, &signed_in, outcome.map(|_| notice.to_owned())).await
}

/// One delivery as the page lists it, with its attempts.
pub struct DeliveryView {
    pub id: String,
    pub event_type: String,
    pub event_id: String,
    pub status: String,
    pub created_at: When,
    pub request_body: String,
    pub attempts: Vec<AttemptView>,
}

/// How many of an endpoint's newest deliveries its page shows.
const RECENT: i64 = 20;

/// One attempt as the page shows it.
pub struct AttemptView {
    pub at: When,
    /// The request headers, one per line.
    pub headers: String,
    /// The answer's status, or the error when no answer came.
    pub answer: String,
    /// The answer's first bytes.
    pub body: String,
    pub latency_ms: i64,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            at: When::at(&a.attempted_at),
            headers: a
                .request_headers
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n"),
            answer: match (a.response_status, a.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error,
                (None, None) => String::new(),
            },
            body: a.response_body.unwrap_or_default(),
            latency_ms: a.latency_ms,
        }
    }
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct EndpointPage {
    nav: Nav,
    secret: String,
    endpoint: Endpoint,
    /// Every event type, and whether the endpoint takes it (named, not through `*`).
    events: Vec<(&'static str, bool)>,
    every: bool,
    deliveries: Vec<DeliveryView>,
    notice: Option<String>,
    error: Option<String>,
}

async fn endpoint_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    signed_in.require(Permission::WebhooksManage)?;
    let account = &signed_in.session.account_id;
    let endpoint = api::find_endpoint(state, account, id)
        .await
        .map_err(|_| PageError::NotFound)?;
    let rows = state
        .store
        .webhook_deliveries(account, &endpoint.id, None, RECENT)
        .await?;
    let mut attempts: std::collections::HashMap<String, Vec<AttemptView>> =
        std::collections::HashMap::new();
    for attempt in state
        .store
        .recent_webhook_attempts(account, &endpoint.id, RECENT)
        .await?
    {
        attempts
            .entry(attempt.delivery_id)
            .or_default()
            .push(attempt.attempt.into());
    }
    let deliveries = rows
        .into_iter()
        .map(|LoggedDelivery { delivery, payload }| DeliveryView {
            attempts: attempts.remove(&delivery.id).unwrap_or_default(),
            id: delivery.id,
            event_type: delivery.event_type,
            event_id: delivery.event_id,
            status: delivery.status,
            created_at: When::at(&delivery.created_at),
            request_body: payload,
        })
        .collect();
    let status = status_with(&error);
    let page = EndpointPage {
        nav: signed_in.nav(),
        secret: signing_secrets(state, account)
            .await?
            .current
            .expose()
            .to_owned(),
        events: EVENT_TYPES
            .iter()
            .map(|t| (*t, endpoint.events.iter().any(|e| e == t)))
            .collect(),
        every: endpoint.events.iter().any(|e| e == "*"),
        endpoint,
        deliveries,
        notice,
        error,
    };
    Ok(render(status, &page))
}

/// Changes an endpoint's URL, description and events. The events come as repeated
/// `event` fields (one per box ticked), which is why the body is read as pairs.
pub async fn edit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let (mut csrf, mut url, mut description, mut events) = (String::new(), None, None, Vec::new());
    for (name, value) in url::form_urlencoded::parse(&body) {
        match &*name {
            "csrf_token" => csrf = value.into_owned(),
            "url" => url = Some(value.trim().to_owned()),
            "description" => description = Some(value.trim().to_owned()),
            "event" => events.push(value.into_owned()),
            _ => {}
        }
    }
    signed_in.check_csrf(&csrf)?;
    signed_in.require(Permission::WebhooksManage)?;
    let body = UpdateEndpoint {
        url,
        description,
        events: Some(events),
        enabled: None,
    };
    let account = &signed_in.session.account_id;
    let outcome = api::update(&state, account, &signed_in.actor(), &id, body).await;
    settle(&state, &signed_in, &id, outcome.map(|_| "Changes saved.")).await
}

pub async fn endpoint(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    endpoint_page(&state, &signed_in, &id, None, None).await
}

pub async fn send_test(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::WebhooksManage)?;
    let outcome = api::send_test(&state, &signed_in.session.account_id, &id).await;
    settle(
        &state,
        &signed_in,
        &id,
        outcome.map(|_| "Test event queued."),
    )
    .await
}

pub async fn redeliver(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((id, delivery)): Path<(String, String)>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::WebhooksManage)?;
    let account = &signed_in.session.account_id;
    let outcome = api::redeliver_one(&state, account, &id, &delivery).await;
    settle(
        &state,
        &signed_in,
        &id,
        outcome.map(|_| "Delivery queued again."),
    )
    .await
}

#[derive(Deserialize)]
pub struct EnabledForm {
    csrf_token: String,
    enabled: bool,
}

pub async fn set_enabled(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<EnabledForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::WebhooksManage)?;
    let body = UpdateEndpoint {
        enabled: Some(form.enabled),
        ..UpdateEndpoint::default()
    };
    let account = &signed_in.session.account_id;
    let outcome = api::update(&state, account, &signed_in.actor(), &id, body).await;
    let notice = if form.enabled {
        "Endpoint enabled."
    } else {
        "Endpoint disabled."
    };
    settle(&state, &signed_in, &id, outcome.map(|_| notice)).await
}

pub async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf_token)?;
    signed_in.require(Permission::WebhooksManage)?;
    let account = &signed_in.session.account_id;
    let endpoint = api::find_endpoint(&state, account, &id)
        .await
        .map_err(|_| PageError::NotFound)?;
    state
        .store
        .delete_webhook_endpoint(account, &endpoint.id, &signed_in.actor())
        .await?;
    Ok(Redirect::to("/app/settings/webhooks").into_response())
}

/// Shows the endpoint's page after an action, with its notice or its error.
async fn settle(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    outcome: Result<&'static str, Error>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(notice) => endpoint_page(state, signed_in, id, Some(notice.to_owned()), None).await,
        Err(e) => endpoint_page(state, signed_in, id, None, Some(form_problem(e)?)).await,
    }
}
