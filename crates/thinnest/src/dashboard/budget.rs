//! The forms anyone can post before signing in each spend a budget of the client's
//! address first, before any password is hashed, any row written or any mail sent:
//! a flood from one client costs us one counter per request, and its refusal hits
//! only that client.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::MethodRouter;

use super::{MessagePage, render};
use crate::gate::client_ip;
use crate::net::client_bucket;
use crate::ratelimit::seconds_until;
use crate::state::AppState;

/// A form (or, for a provider's return, a page) that takes no session.
#[derive(Debug, Clone, Copy)]
pub enum PublicForm {
    SignUp,
    Confirm,
    SignIn,
    Forgot,
    Reset,
    AcceptInvitation,
    /// Starting a sign-in or a connection with Google, GitHub or OpenID Connect.
    ProviderStart,
    /// The provider sending the browser back (a code to exchange).
    ProviderReturn,
    /// The password that joins a provider's identity to an existing account.
    ProviderLink,
}

impl PublicForm {
    fn name(self) -> &'static str {
        match self {
            PublicForm::SignUp => "signup",
            PublicForm::Confirm => "confirm",
            PublicForm::SignIn => "signin",
            PublicForm::Forgot => "forgot",
            PublicForm::Reset => "reset",
            PublicForm::AcceptInvitation => "accept",
            PublicForm::ProviderStart => "provider-start",
            PublicForm::ProviderReturn => "provider-return",
            PublicForm::ProviderLink => "provider-link",
        }
    }

    /// Requests one client address may make per minute: a person needs a few; sign-in
    /// and providers allow for a family or an office behind one address.
    fn per_minute(self) -> u32 {
        match self {
            PublicForm::SignIn | PublicForm::ProviderStart | PublicForm::ProviderReturn => 30,
            PublicForm::SignUp
            | PublicForm::Confirm
            | PublicForm::Forgot
            | PublicForm::Reset
            | PublicForm::AcceptInvitation
            | PublicForm::ProviderLink => 10,
        }
    }
}

/// `route`, made to spend `form`'s budget before its handler runs.
pub fn limited(
    state: &AppState,
    form: PublicForm,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route.route_layer(from_fn_with_state((state.clone(), form), spend))
}

async fn spend(
    State((state, form)): State<(AppState, PublicForm)>,
    request: Request,
    next: Next,
) -> Response {
    let budget = format!(
        "form:{}:{}",
        form.name(),
        client_bucket(client_ip(&request))
    );
    let Some(wait_ms) = state.limiter.wait_for(&budget, form.per_minute()).await else {
        return next.run(request).await;
    };
    let wait = seconds_until(wait_ms);
    let page = MessagePage {
        title: "Slow down".to_owned(),
        text: format!("Too many attempts from your network. Try again in {wait} seconds."),
        links: vec![("/app/login", "Back to sign in")],
    };
    let mut response = render(StatusCode::TOO_MANY_REQUESTS, &page);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}
