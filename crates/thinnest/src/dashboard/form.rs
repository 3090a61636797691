//! The one form page that sign-up, sign-in, confirmation, password reset, invitation
//! acceptance and provider linking share.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::render;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "form.html")]
pub struct FormPage {
    pub(super) title: &'static str,
    pub(super) action: &'static str,
    pub(super) submit: &'static str,
    pub(super) error: Option<String>,
    pub(super) notice: Option<String>,
    pub(super) email_field: bool,
    pub(super) email: String,
    pub(super) password_field: bool,
    pub(super) password_autocomplete: &'static str,
    pub(super) password_error: Option<&'static str>,
    /// The emailed link's token, for forms opened from a link: `Some("")` on the
    /// first showing (the page's script reads it from the link's fragment), and what
    /// was sent when the form is shown again after a mistake, so it still works.
    pub(super) token: Option<String>,
    /// "Continue with …" buttons: provider slug and label.
    pub(super) social: Vec<(&'static str, String)>,
    /// Set on forms posted while signed in.
    pub(super) csrf_token: Option<String>,
    pub(super) links: Vec<(&'static str, &'static str)>,
}

impl FormPage {
    fn new(title: &'static str, action: &'static str, submit: &'static str) -> FormPage {
        FormPage {
            title,
            action,
            submit,
            error: None,
            notice: None,
            email_field: true,
            email: String::new(),
            password_field: true,
            password_autocomplete: "current-password",
            password_error: None,
            token: None,
            social: Vec::new(),
            csrf_token: None,
            links: Vec::new(),
        }
    }

    pub(super) fn login(state: &AppState) -> FormPage {
        FormPage {
            social: state.identity.providers.buttons(),
            links: vec![
                ("/app/forgot-password", "Forgot your password?"),
                ("/app/signup", "No account yet? Sign up"),
            ],
            ..FormPage::new("Sign in", "/app/login", "Sign in")
        }
    }

    pub(super) fn signup(state: &AppState) -> FormPage {
        FormPage {
            social: state.identity.providers.buttons(),
            password_autocomplete: "new-password",
            links: vec![("/app/login", "Already have an account? Sign in")],
            ..FormPage::new("Create your account", "/app/signup", "Sign up")
        }
    }

    pub(super) fn forgot() -> FormPage {
        FormPage {
            password_field: false,
            links: vec![("/app/login", "Back to sign in")],
            ..FormPage::new(
                "Reset your password",
                "/app/forgot-password",
                "Send me a link",
            )
        }
    }

    pub(super) fn reset() -> FormPage {
        FormPage {
            email_field: false,
            token: Some(String::new()),
            password_autocomplete: "new-password",
            ..FormPage::new(
                "Choose a new password",
                "/app/reset-password",
                "Set password",
            )
        }
    }

    pub fn accept() -> FormPage {
        FormPage {
            email_field: false,
            password_field: false,
            token: Some(String::new()),
            ..FormPage::new(
                "Join the workspace",
                "/app/invitations/accept",
                "Accept the invitation",
            )
        }
    }

    /// Asks for the password of an existing account before a provider joins it.
    pub fn link_with_password(notice: String) -> FormPage {
        FormPage {
            email_field: false,
            notice: Some(notice),
            links: vec![("/app/forgot-password", "Forgot your password?")],
            ..FormPage::new(
                "Connect your accounts",
                "/app/oauth/link",
                "Connect and sign in",
            )
        }
    }

    pub(super) fn verify() -> FormPage {
        FormPage {
            email_field: false,
            token: Some(String::new()),
            notice: Some("Enter the password you chose when you signed up.".to_owned()),
            ..FormPage::new("Confirm your email", "/app/verify-email", "Confirm")
        }
    }
}

pub fn page(status: StatusCode, form: FormPage) -> Response {
    render(status, &form)
}
