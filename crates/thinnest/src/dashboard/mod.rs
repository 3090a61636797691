//! The dashboard: server-rendered pages under `/app`, signed in with a session
//! cookie. Every POST must come from our own origin, and every POST of a
//! signed-in page carries the session's CSRF token.

mod agent_knowledge;
mod agent_tabs;
mod agents;
mod audit;
mod billing;
mod budget;
mod embed;
mod form;
mod integrations;
mod keys;
mod recovery;
mod reference;
mod security;
mod session;
mod sign_in;
mod social;
mod social_link;
mod team;
mod throttle;
mod usage;
mod view;
mod webhooks;

use askama::Template;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;

pub use session::SignedIn;

pub fn router(state: AppState) -> Router<AppState> {
    use budget::{PublicForm, limited};
    let public = |form, route| limited(&state, form, route);
    Router::new()
        .route(
            "/app/signup",
            get(sign_in::signup_page).merge(public(PublicForm::SignUp, post(sign_in::signup))),
        )
        .route(
            "/app/verify-email",
            get(sign_in::verify_page).merge(public(PublicForm::Confirm, post(sign_in::verify))),
        )
        .route(
            "/app/login",
            get(sign_in::login_page).merge(public(PublicForm::SignIn, post(sign_in::login))),
        )
        .route(
            "/app/forgot-password",
            get(recovery::forgot_page).merge(public(PublicForm::Forgot, post(recovery::forgot))),
        )
        .route(
            "/app/reset-password",
            get(recovery::reset_page).merge(public(PublicForm::Reset, post(recovery::reset))),
        )
        .route("/app/logout", post(sign_in::logout))
        .route(
            "/app/oauth/{provider}",
            public(PublicForm::ProviderStart, post(social::start)),
        )
        .route(
            "/app/oauth/{provider}/callback",
            public(PublicForm::ProviderReturn, get(social::callback)),
        )
        .route(
            "/app/oauth/link",
            get(social_link::link_page)
                .merge(public(PublicForm::ProviderLink, post(social_link::link))),
        )
        .route(
            "/app/settings/security/connect",
            public(PublicForm::ProviderStart, post(social::connect_start)),
        )
        .route(
            "/app/settings/security/identities/{id}/disconnect",
            post(security::disconnect_identity),
        )
        .route("/app", get(agents::list))
        .route("/app/agents", post(agents::create))
        .route("/app/agents/new", get(agents::new_page))
        .route("/app/agents/{id}", get(agent_tabs::overview))
        .route("/app/agents/{id}/chat", post(agent_tabs::chat))
        .route(
            "/app/agents/{id}/knowledge",
            get(agent_knowledge::knowledge).post(agent_knowledge::paste),
        )
        .route(
            "/app/agents/{id}/knowledge/upload",
            post(agent_knowledge::upload),
        )
        .route(
            "/app/agents/{id}/knowledge/{document}/delete",
            post(agent_knowledge::delete),
        )
        .route("/app/agents/{id}/tools", get(agent_tabs::tools))
        .route(
            "/app/agents/{id}/conversations",
            get(agent_tabs::conversations),
        )
        .route(
            "/app/agents/{id}/conversations/{conversation}",
            get(agent_tabs::transcript),
        )
        .route(
            "/app/agents/{id}/settings",
            get(agents::settings).post(agents::save),
        )
        .route("/app/agents/{id}/delete", post(agents::delete))
        .route(
            "/app/agents/{id}/settings/embed",
            get(embed::embed).post(embed::save_embed),
        )
        .route("/app/agents/{id}/embed", get(embed::moved))
        .route("/app/usage", get(usage::usage))
        .route("/docs", get(reference::reference))
        .route(
            "/app/settings/integrations",
            get(integrations::integrations),
        )
        .route(
            "/app/settings/api-keys",
            get(keys::api_keys).post(keys::create_api_key),
        )
        .route(
            "/app/settings/api-keys/{id}/revoke",
            post(keys::revoke_api_key),
        )
        .route(
            "/app/settings/api-keys/{id}/rotate",
            post(keys::rotate_api_key),
        )
        .route("/app/settings/security", get(security::security))
        .route(
            "/app/settings/security/sign-out-others",
            post(security::sign_out_others),
        )
        .route(
            "/app/settings/security/password",
            post(security::change_password),
        )
        .route("/app/settings/team", get(team::team))
        .route("/app/settings/audit-log", get(audit::audit_log))
        .route(
            "/app/settings/billing",
            get(billing::billing).post(billing::update_billing),
        )
        .route(
            "/app/settings/webhooks",
            get(webhooks::webhooks).post(webhooks::create),
        )
        .route("/app/settings/webhooks/rotate", post(webhooks::rotate))
        .route("/app/settings/webhooks/{id}", get(webhooks::endpoint))
        .route("/app/settings/webhooks/{id}/edit", post(webhooks::edit))
        .route(
            "/app/settings/webhooks/{id}/test",
            post(webhooks::send_test),
        )
        .route(
            "/app/settings/webhooks/{id}/enabled",
            post(webhooks::set_enabled),
        )
        .route("/app/settings/webhooks/{id}/delete", post(webhooks::delete))
        .route(
            "/app/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/app/settings/team/invitations", post(team::invite))
        .route(
            "/app/settings/team/invitations/{id}/resend",
            post(team::resend),
        )
        .route(
            "/app/settings/team/invitations/{id}/cancel",
            post(team::cancel),
        )
        .route(
            "/app/settings/team/members/{user_id}/role",
            post(team::change_role),
        )
        .route(
            "/app/settings/team/members/{user_id}/remove",
            post(team::remove),
        )
        .route(
            "/app/invitations/accept",
            get(team::accept_page).merge(public(PublicForm::AcceptInvitation, post(team::accept))),
        )
        .route("/app/workspaces/switch", post(team::switch))
        .layer(from_fn_with_state(state, same_origin))
}

/// Whether `path` is the dashboard's, so that a page not found there is a page.
pub fn owns(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/")
}

/// The page for an address under `/app` that leads nowhere.
pub fn not_found() -> Response {
    PageError::NotFound.into_response()
}

/// The page for an address under `/app` asked with a method it does not take (a
/// form's address opened as a link, say).
pub fn method_not_allowed() -> Response {
    let page = MessagePage::new(
        "Not here",
        "This address is for a form; open the page it belongs to and send the form from there.",
    );
    render(StatusCode::METHOD_NOT_ALLOWED, &page)
}

/// A page's query; one that does not fit is ignored and the page shown as if nothing
/// had been asked, so a mangled link still leads somewhere.
pub struct Asked<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default, S: Send + Sync> axum::extract::FromRequestParts<S>
    for Asked<T>
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let asked = axum::extract::Query::<T>::from_request_parts(parts, state).await;
        Ok(Asked(asked.map(|q| q.0).unwrap_or_default()))
    }
}

/// A page that says one thing.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub text: String,
    pub links: Vec<(&'static str, &'static str)>,
}

impl MessagePage {
    pub fn new(title: &str, text: &str) -> MessagePage {
        MessagePage {
            title: title.to_owned(),
            text: text.to_owned(),
            links: vec![("/app", "Back to the dashboard")],
        }
    }
}

/// A form body; one that does not fit the form is refused with what is wrong (a
/// forged one never gets this far: see `same_origin`, and each handler's CSRF check).
pub struct PageForm<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for PageForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, PageError> {
        axum::Form::<T>::from_request(req, state)
            .await
            .map(|axum::Form(v)| PageForm(v))
            .map_err(|rejection| PageError::Unreadable(rejection.body_text()))
    }
}

/// A form that carries only the CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf_token: String,
}

/// 422 for a page shown again with an error, 200 otherwise.
pub fn status_with<T>(error: &Option<T>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// An API error as a form's page shows it: what was wrong with the input, or a
/// conflict's reason. Errors a form cannot cause stay errors.
pub fn form_problem(error: crate::error::Error) -> Result<String, PageError> {
    use crate::error::Error;
    match error {
        Error::Invalid { fields, .. } => Ok(fields
            .into_iter()
            .map(|(field, problem)| format!("{field} {problem}"))
            .collect::<Vec<_>>()
            .join("; ")),
        Error::Conflict(message) => Ok(message),
        Error::NotFound(_) => Err(PageError::NotFound),
        other => Err(PageError::Internal(other.into())),
    }
}

/// Renders a template with a status, under a Content-Security-Policy that lets only
/// this response's own style sheet and script run: each response gets a fresh nonce,
/// and the templates carry no inline handlers or style attributes.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    let nonce = crate::secrets::api_key::random_base62(22);
    let values: [(&str, &dyn std::any::Any); 1] = [("csp_nonce", &nonce)];
    match template.render_with_values(&values) {
        Ok(html) => {
            let policy = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
                 img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
            );
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response();
            if let Ok(policy) = axum::http::HeaderValue::from_str(&policy) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, policy);
            }
            response
        }
        Err(e) => PageError::Internal(e.into()).into_response(),
    }
}

/// Seconds a client is asked to wait when every password hasher is busy.
const BUSY_RETRY_AFTER: &str = "2";

/// Why a page cannot be shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in (or the session ended): go to the sign-in page.
    SignIn,
    /// Signed in, but the role does not allow this.
    Forbidden,
    /// A form posted without a valid CSRF token or from another origin.
    BadForm,
    /// A form whose fields do not fit it; says which and why.
    Unreadable(String),
    NotFound,
    /// Every password hasher is busy: retry in a moment.
    Busy,
    /// The workspace spent its budget for this kind of request: retry in these seconds.
    Limited(u64),
    Internal(anyhow::Error),
}

impl From<crate::auth::password::HashError> for PageError {
    fn from(e: crate::auth::password::HashError) -> Self {
        match e {
            crate::auth::password::HashError::Busy => PageError::Busy,
            crate::auth::password::HashError::Failed(e) => PageError::Internal(e),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError::Internal(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PageError::SignIn => return Redirect::to("/app/login").into_response(),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role in this workspace does not allow this. Ask an Admin of the workspace.",
            ),
            PageError::BadForm => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form could not be accepted. Reload the page and try again.",
            ),
            PageError::Unreadable(problem) => {
                return render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &MessagePage::new("Form not accepted", &problem),
                );
            }
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it belongs to another workspace.",
            ),
            PageError::Busy => {
                let page = MessagePage::new(
                    "Busy",
                    "Many people are signing in right now. Try again in a few seconds.",
                );
                let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page);
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static(BUSY_RETRY_AFTER),
                );
                return response;
            }
            PageError::Limited(seconds) => {
                let text = format!(
                    "This workspace reached its limit for this kind of request (the API's keys \
                     share it). Try again in {seconds} seconds."
                );
                let mut response = render(
                    StatusCode::TOO_MANY_REQUESTS,
                    &MessagePage::new("Slow down", &text),
                );
                if let Ok(value) = axum::http::HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                return response;
            }
            PageError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "dashboard error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Something went wrong on our side. Try again in a moment.",
                )
            }
        };
        render(status, &MessagePage::new(title, text))
    }
}

/// The origin a form must come from: `--public-url`, else `https://` + the host asked for.
fn origin(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if let Some(base) = state.config.public_base() {
        return Some(base.to_owned());
    }
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in the Host header.
    let host = match uri.authority() {
        Some(authority) => authority.as_str().to_owned(),
        None => headers.get(header::HOST)?.to_str().ok()?.to_owned(),
    };
    Some(format!("https://{host}"))
}

/// Middleware: a state-changing request must say it comes from our own pages: its
/// `Origin` is ours, or (our pages send no referrer, so a browser posts their forms
/// with `Origin: null`) it is `null` and the browser's `Sec-Fetch-Site` says
/// `same-origin`. A page of another site gets neither.
async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let headers = request.headers();
        let sent = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let expected = origin(&state, request.uri(), headers);
        let same_site_navigation = sent == Some("null")
            && headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes() == b"same-origin");
        let ours = sent.is_some() && sent.map(str::to_owned) == expected;
        if !ours && !same_site_navigation {
            return PageError::BadForm.into_response();
        }
    }
    next.run(request).await
}
