//! The dashboard pages for webhooks and embed settings: signed out, roles too weak,
//! another workspace's objects and bad forms. The workspace and the loops that go
//! through a table of actions are shared here.

mod agents;
mod embed;
mod settings;
mod webhooks;

use reqwest::{Method, StatusCode};

use super::FLAGS;
use crate::dashboard::{dashboard_key, signed_up};
use crate::support::browser::{Browser, Page};
use crate::support::{Principal, TestApp};
use crate::team::{accept, invite};

/// A form's fields besides its CSRF token.
type Fields = Vec<(&'static str, &'static str)>;

/// A page or action with a well-formed form: (GET or POST, path, fields).
type Action = (Method, String, Fields);

const NOT_ALLOWED: &str = "Your role in this workspace does not allow this.";
const ELSEWHERE: &str = "There is nothing here, or it belongs to another workspace.";

/// A workspace whose Admin has an admin API key, an Editor and a Viewer in it, and
/// the Admin of another workspace.
struct Workspace {
    app: TestApp,
    admin: Browser,
    /// The Admin's API key, as a principal for the API helpers.
    owner: Principal,
    members: Vec<(&'static str, Browser)>,
    stranger: Browser,
}

impl Workspace {
    async fn new() -> Workspace {
        let app = TestApp::with_flags(FLAGS).await;
        let admin = signed_up(&app, "owner@example.com").await;
        let key = dashboard_key(&admin, "tables", "admin").await;
        let owner = Principal {
            account_id: String::new(),
            key_id: String::new(),
            key,
        };
        let mut members = Vec::new();
        for (email, role) in [
            ("editor@example.com", "editor"),
            ("viewer@example.com", "viewer"),
        ] {
            let member = signed_up(&app, email).await;
            let token = invite(&app, &admin, email, role).await;
            accept(&member, &token).await;
            members.push((role, member));
        }
        let stranger = signed_up(&app, "stranger@example.com").await;
        Workspace {
            app,
            admin,
            owner,
            members,
            stranger,
        }
    }
}

/// The session's CSRF token, from the `/app` page.
async fn csrf(browser: &Browser) -> String {
    let home = browser.get("/app").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    home.csrf()
}

/// GETs a page, or POSTs a form of `fields` with the CSRF token `token`.
async fn submit(
    browser: &Browser,
    method: &Method,
    path: &str,
    fields: &[(&str, &str)],
    token: &str,
) -> Page {
    if *method == Method::GET {
        return browser.get(path).await;
    }
    let mut form = vec![("csrf_token", token)];
    form.extend_from_slice(fields);
    browser.post(path, &form).await
}

/// Asserts a dashboard answer's status and that its page says `words`.
fn expect_page(page: &Page, status: StatusCode, words: &str, case: &str) {
    assert_eq!(page.status, status, "{case}: {}", page.body);
    assert!(
        page.body.contains(words),
        "{case}: the page should say {words:?}: {}",
        page.body
    );
}

/// Signed out: every page and action sends the browser to sign in.
async fn expect_sign_in(app: &TestApp, actions: &[Action]) {
    let anonymous = Browser::new(app);
    for (method, path, fields) in actions {
        let page = submit(&anonymous, method, path, fields, "forged").await;
        assert_eq!(
            (page.status, page.location()),
            (StatusCode::SEE_OTHER, "/app/login"),
            "signed out {method} {path}: {}",
            page.body
        );
    }
}

/// Each member, with a valid CSRF token, gets what `allowed(role, method)` allows and
/// is refused the rest.
async fn expect_roles(
    members: &[(&str, Browser)],
    actions: &[Action],
    allowed: impl Fn(&str, &Method) -> bool,
) {
    for (role, member) in members {
        let token = csrf(member).await;
        for (method, path, fields) in actions {
            let case = format!("{role} {method} {path}");
            let page = submit(member, method, path, fields, &token).await;
            if allowed(role, method) {
                // A page, or a form's redirect to the page that shows what it did.
                let done = [StatusCode::OK, StatusCode::SEE_OTHER];
                assert!(done.contains(&page.status), "{case}: {}", page.body);
            } else {
                expect_page(&page, StatusCode::FORBIDDEN, NOT_ALLOWED, &case);
            }
        }
    }
}

/// Another workspace's Admin finds none of these.
async fn expect_elsewhere(stranger: &Browser, actions: &[Action]) {
    let token = csrf(stranger).await;
    for (method, path, fields) in actions {
        let case = format!("stranger {method} {path}");
        let page = submit(stranger, method, path, fields, &token).await;
        expect_page(&page, StatusCode::NOT_FOUND, ELSEWHERE, &case);
    }
}

/// Bad input from the Admin: (path, fields, status, what the page says).
type BadForm = (String, Fields, StatusCode, &'static str);

/// Each bad form POSTed by the Admin with `token` gets its status and words.
async fn expect_bad_forms(admin: &Browser, token: &str, bad_forms: &[BadForm]) {
    for (path, fields, status, words) in bad_forms {
        let case = format!("admin POST {path} {fields:?}");
        let page = submit(admin, &Method::POST, path, fields, token).await;
        expect_page(&page, *status, words, &case);
    }
}
