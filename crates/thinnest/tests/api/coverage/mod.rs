//! Table-driven checks of the project rule for the webhooks, knowledge,
//! conversations, embed and widget endpoints and the webhooks and embed pages: no
//! credentials, another account's object, a role too weak and bad input each get
//! their own status and a message that says what is wrong, never a 500.
//!
//! One module per resource, so that one failing row does not hide another
//! resource's rows; the shared request helpers and fixtures live here.

mod conversations;
mod embed;
mod knowledge;
mod pages;
mod webhooks;
mod widget;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::support::{Principal, TestApp, assert_error, send};

const SHOP: &str = "https://shop.example.com";
/// Ids of the right shape that name nothing.
const NO_HOOK: &str = "wh_00000000000000000000000000000000";
const NO_DELIVERY: &str = "whd_00000000000000000000000000000000";
const NO_CONVERSATION: &str = "conv_00000000000000000000000000000000";

/// No deliveries (nothing needs delivering) and budgets no table reaches.
const FLAGS: &[&str] = &[
    "--webhook-concurrency=0",
    "--limit-other=1000",
    "--limit-agent-crud=1000",
    "--limit-conversation=1000",
    "--auth-failure-limit=1000",
    "--widget-requests-per-ip=1000",
];

/// A request body: none, JSON, or raw text with its content type.
#[derive(Clone)]
enum Body {
    None,
    Json(Value),
    Raw(&'static str, &'static str),
}

impl Body {
    /// `request` carrying this body.
    fn attach(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Raw(content_type, text) => {
                request.header("content-type", *content_type).body(*text)
            }
        }
    }

    /// A case name for `verb` with this body.
    fn describe(&self, verb: &str) -> String {
        match self {
            Body::Json(value) => format!("{verb} {value}"),
            Body::Raw(kind, text) => format!("{verb} {kind} {text}"),
            Body::None => format!("{verb} without a body"),
        }
    }
}

/// One API call, with `key` as the bearer when there is one.
async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: &Body,
) -> (StatusCode, Value) {
    let mut request = app.request(method, path);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    send(body.attach(request)).await
}

/// An error envelope with this status and code whose message contains `fragment`.
fn expect_error(
    got: &(StatusCode, Value),
    status: StatusCode,
    code: &str,
    fragment: &str,
    case: &str,
) {
    assert_eq!(got.0, status, "{case}: {}", got.1);
    assert_error(got, status, code);
    let message = got.1["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(fragment),
        "{case}: the message should say {fragment:?}: {}",
        got.1
    );
}

/// Each call without credentials is refused before anything is read.
async fn expect_anonymous_refused(app: &TestApp, routes: &[(Method, String)], body: &Body) {
    for (method, path) in routes {
        let case = format!("anonymous {method} {path}");
        let got = api(app, method.clone(), path, None, body).await;
        expect_error(
            &got,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing API key",
            &case,
        );
    }
}

/// One refused call: (method, path, key, body, status, code, message fragment).
type Refusal<'a> = (
    Method,
    String,
    &'a Principal,
    Body,
    StatusCode,
    &'a str,
    &'a str,
);

/// Each call gets its error envelope.
async fn expect_refusals(app: &TestApp, cases: &[Refusal<'_>]) {
    for (method, path, by, body, status, code, fragment) in cases {
        let case = format!("{method} {path} as {}", by.key_id);
        let got = api(app, method.clone(), path, Some(&by.key), body).await;
        expect_error(&got, *status, code, fragment, &case);
    }
}

/// Two accounts with an agent each, and a viewer key in the first.
struct Accounts {
    app: TestApp,
    admin: Principal,
    other: Principal,
    mine: String,
    theirs: String,
    viewer: Principal,
}

impl Accounts {
    async fn new() -> Accounts {
        let app = TestApp::with_flags(FLAGS).await;
        let admin = app.account("owner@example.com").await;
        let other = app.account("other@example.com").await;
        let mine = app.agent(&admin, "Mine").await;
        let theirs = app.agent(&other, "Theirs").await;
        let viewer = app.key_with_role(&admin, "viewer").await;
        Accounts {
            app,
            admin,
            other,
            mine,
            theirs,
            viewer,
        }
    }
}

/// Embed settings that would be saved if the call got through.
fn embed_settings() -> Value {
    json!({"allowed_origins": [SHOP], "identity_verification": "required"})
}

/// A webhook endpoint made through the API; nothing is ever delivered to it.
async fn hook(app: &TestApp, key: &str) -> String {
    let (status, made) = app
        .post(
            "/webhooks",
            key,
            json!({"url": "https://hooks.example.com/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["id"].as_str().unwrap().to_owned()
}
