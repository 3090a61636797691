//! Table-driven checks of the project rule for the webhooks, knowledge,
//! conversations, embed and widget endpoints and the webhooks and embed pages: no
//! credentials, another account's object, a role too weak and bad input each get
//! their own status and a message that says what is wrong, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::dashboard::{dashboard_key, signed_up};
use crate::support::browser::{Browser, Page};
use crate::support::{Principal, TestApp, assert_error, read, send};
use crate::team::{accept, invite};

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
    request = match body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Raw(content_type, text) => request.header("content-type", *content_type).body(*text),
    };
    send(request).await
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

#[tokio::test]
async fn the_webhooks_api_refuses_weak_roles_strangers_and_bad_bodies_with_reasons() {
    let app = TestApp::with_flags(FLAGS).await;
    let admin = app.account("owner@example.com").await;
    let other = app.account("other@example.com").await;
    let mine = hook(&app, &admin.key).await;
    let theirs = hook(&app, &other.key).await;
    let editor = app.key_with_role(&admin, "editor").await;
    let viewer = app.key_with_role(&admin, "viewer").await;
    let one = format!("/webhooks/{mine}");
    let test = format!("/webhooks/{mine}/test");
    let patch = Body::Json(json!({"enabled": false}));

    // No credentials, then each role too weak: refused before anything is read.
    let routes = [
        (Method::GET, one.clone(), Body::None),
        (Method::PATCH, one.clone(), patch.clone()),
        (Method::DELETE, one.clone(), Body::None),
        (Method::POST, test.clone(), Body::None),
        // Even a bad body: the role is checked first.
        (
            Method::PATCH,
            one.clone(),
            Body::Raw("application/json", "{oops"),
        ),
    ];
    for (method, path, body) in &routes {
        let case = format!("anonymous {method} {path}");
        let got = api(&app, method.clone(), path, None, body).await;
        expect_error(
            &got,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing API key",
            &case,
        );
        for member in [&editor, &viewer] {
            let case = format!("{} {method} {path}", member.key_id);
            let got = api(&app, method.clone(), path, Some(&member.key), body).await;
            expect_error(
                &got,
                StatusCode::FORBIDDEN,
                "forbidden",
                "cannot manage webhooks",
                &case,
            );
        }
    }

    // Another account's endpoint, and ids that name nothing.
    let missing = "No webhook endpoint with that id in this account.";
    let not_found = [
        (Method::GET, format!("/webhooks/{theirs}"), Body::None),
        (Method::PATCH, format!("/webhooks/{theirs}"), patch.clone()),
        (Method::DELETE, format!("/webhooks/{theirs}"), Body::None),
        (Method::POST, format!("/webhooks/{theirs}/test"), Body::None),
        (Method::DELETE, "/webhooks/wh_nope".to_owned(), Body::None),
        (Method::DELETE, format!("/webhooks/{NO_HOOK}"), Body::None),
        (Method::POST, "/webhooks/nope/test".to_owned(), Body::None),
        (
            Method::POST,
            format!("/webhooks/{NO_HOOK}/test"),
            Body::None,
        ),
        (Method::PATCH, "/webhooks/nope".to_owned(), patch.clone()),
    ];
    for (method, path, body) in &not_found {
        let case = format!("{method} {path}");
        let got = api(&app, method.clone(), path, Some(&admin.key), body).await;
        expect_error(&got, StatusCode::NOT_FOUND, "not_found", missing, &case);
    }
    let (status, still) = app.get(&format!("/webhooks/{theirs}"), &other.key).await;
    assert_eq!((status, &still["enabled"]), (StatusCode::OK, &json!(true)));

    // Bad PATCH bodies: (body, status, code, what the message says, the field named).
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let bad_patches = [
        (
            Body::Json(json!({"url": "ftp://hooks.example.com/x"})),
            unprocessable,
            "invalid_request",
            "url must be an https:// URL",
            "url",
        ),
        (
            Body::Json(json!({"url": "http://hooks.example.com/x"})),
            unprocessable,
            "invalid_request",
            "url must use https",
            "url",
        ),
        (
            Body::Json(json!({"url": "not a url"})),
            unprocessable,
            "invalid_request",
            "url must be an absolute URL",
            "url",
        ),
        (
            Body::Json(json!({"url": "https://127.0.0.1/x"})),
            unprocessable,
            "invalid_request",
            "private",
            "url",
        ),
        (
            Body::Json(json!({"events": ["call.exploded"]})),
            unprocessable,
            "invalid_request",
            "\"call.exploded\" is not an event type",
            "events",
        ),
        (
            Body::Json(json!({"events": []})),
            unprocessable,
            "invalid_request",
            "at least one event type",
            "events",
        ),
        (
            Body::Json(json!({"events": ["*", "agent.created"]})),
            unprocessable,
            "invalid_request",
            "already means every event type",
            "events",
        ),
        (
            Body::Json(json!({"events": "agent.created"})),
            unprocessable,
            "invalid_request",
            "invalid type",
            "events",
        ),
        (
            Body::Json(json!({"enabled": "yes"})),
            unprocessable,
            "invalid_request",
            "invalid type",
            "enabled",
        ),
        (
            Body::Json(json!({"colour": "red"})),
            unprocessable,
            "invalid_request",
            "unknown field `colour`",
            "colour",
        ),
        (
            Body::Json(json!({"description": "x".repeat(501)})),
            unprocessable,
            "invalid_request",
            "description must be at most 500 characters",
            "description",
        ),
        (
            Body::Raw("application/json", "{\"url\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
            "",
        ),
        (
            Body::Raw("application/json", "{\"url\": \"https://x"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
            "",
        ),
        (
            Body::Raw("text/plain", "url=https://x.example.com"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
            "",
        ),
        (
            Body::None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
            "",
        ),
    ];
    for (body, status, code, fragment, field) in &bad_patches {
        let case = match body {
            Body::Json(value) => format!("PATCH {value}"),
            Body::Raw(kind, text) => format!("PATCH {kind} {text}"),
            Body::None => "PATCH without a body".to_owned(),
        };
        let got = api(&app, Method::PATCH, &one, Some(&admin.key), body).await;
        expect_error(&got, *status, code, fragment, &case);
        if !field.is_empty() {
            assert!(
                got.1["fields"][field].is_string(),
                "{case}: names {field}: {}",
                got.1
            );
        }
    }
    let (_, unchanged) = app.get(&one, &admin.key).await;
    assert_eq!(unchanged["url"], "https://hooks.example.com/x");
    assert_eq!(unchanged["events"], json!(["*"]));
    assert_eq!(unchanged["enabled"], true);

    // Rotating with a bad grace period says what grace_seconds may be.
    let rotate = "/webhooks/signing-secret/rotate";
    let (_, before) = app.get("/webhooks/signing-secret", &admin.key).await;
    let bad_rotations = [
        (
            Body::Json(json!({"grace_seconds": 604_801})),
            unprocessable,
            "invalid_request",
            "grace_seconds must be between 0 and 604800",
        ),
        (
            Body::Json(json!({"grace_seconds": u64::MAX})),
            unprocessable,
            "invalid_request",
            "grace_seconds must be between 0 and 604800",
        ),
        (
            Body::Json(json!({"grace_seconds": -1})),
            unprocessable,
            "invalid_request",
            "grace_seconds: invalid value",
        ),
        (
            Body::Json(json!({"grace_seconds": 1.5})),
            unprocessable,
            "invalid_request",
            "grace_seconds: invalid type",
        ),
        (
            Body::Json(json!({"grace_seconds": "abc"})),
            unprocessable,
            "invalid_request",
            "grace_seconds: invalid type",
        ),
        (
            Body::Json(json!({"grace": 5})),
            unprocessable,
            "invalid_request",
            "unknown field `grace`",
        ),
        (
            Body::Raw("application/json", "{\"grace_seconds\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
        ),
        (
            Body::Raw("text/plain", "grace_seconds=5"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
        ),
    ];
    for (body, status, code, fragment) in &bad_rotations {
        let case = match body {
            Body::Json(value) => format!("rotate {value}"),
            Body::Raw(kind, text) => format!("rotate {kind} {text}"),
            Body::None => "rotate".to_owned(),
        };
        let got = api(&app, Method::POST, rotate, Some(&admin.key), body).await;
        expect_error(&got, *status, code, fragment, &case);
    }
    let (_, after) = app.get("/webhooks/signing-secret", &admin.key).await;
    assert_eq!(before["secret"], after["secret"], "no bad rotation rotated");
}

#[tokio::test]
async fn knowledge_conversations_and_embed_settings_refuse_strangers_and_bad_input() {
    let app = TestApp::with_flags(FLAGS).await;
    let admin = app.account("owner@example.com").await;
    let other = app.account("other@example.com").await;
    let mine = app.agent(&admin, "Mine").await;
    let theirs = app.agent(&other, "Theirs").await;
    let viewer = app.key_with_role(&admin, "viewer").await;
    let embed = json!({"allowed_origins": [SHOP], "identity_verification": "required"});
    let no_agent = "No agent with that id in this account.";
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let not_found = StatusCode::NOT_FOUND;

    // (method, path, key, body, status, code, message fragment)
    let cases: Vec<(Method, String, &Principal, Body, StatusCode, &str, &str)> = vec![
        // Knowledge.
        (
            Method::GET,
            format!("/knowledge?agent_id={theirs}"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/knowledge?agent_id=nope".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/knowledge?agent_id=".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/knowledge".to_owned(),
            &admin,
            Body::None,
            unprocessable,
            "invalid_request",
            "missing field `agent_id`",
        ),
        (
            Method::GET,
            "/knowledge".to_owned(),
            &viewer,
            Body::None,
            unprocessable,
            "invalid_request",
            "missing field `agent_id`",
        ),
        (
            Method::GET,
            format!("/knowledge?agent_id={mine}&colour=red"),
            &admin,
            Body::None,
            unprocessable,
            "invalid_request",
            "unknown field `colour`",
        ),
        // Conversations.
        (
            Method::GET,
            "/conversations/nope".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::GET,
            format!("/conversations/{NO_CONVERSATION}"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::POST,
            "/conversations/nope/end".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::POST,
            format!("/conversations/{NO_CONVERSATION}/end"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::POST,
            "/conversations/nope/end".to_owned(),
            &viewer,
            Body::None,
            StatusCode::FORBIDDEN,
            "forbidden",
            "cannot create or change agents",
        ),
        // Embed settings: another account's agent, an agent that is not.
        (
            Method::GET,
            format!("/agents/{theirs}/embed"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::PUT,
            format!("/agents/{theirs}/embed"),
            &admin,
            Body::Json(embed.clone()),
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/agents/nope/embed".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::PUT,
            "/agents/nope/embed".to_owned(),
            &admin,
            Body::Json(embed.clone()),
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::PUT,
            "/agents/nope/embed".to_owned(),
            &admin,
            Body::Json(json!({"allowed_origins": []})),
            unprocessable,
            "invalid_request",
            "missing field `identity_verification`",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &viewer,
            Body::Json(embed.clone()),
            StatusCode::FORBIDDEN,
            "forbidden",
            "cannot create or change agents",
        ),
        // Embed settings: bad bodies.
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(json!({"allowed_origins": [], "identity_verification": "maybe"})),
            unprocessable,
            "invalid_request",
            "unknown variant `maybe`",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(
                json!({"allowed_origins": ["ftp://shop.example.com"], "identity_verification": "off"}),
            ),
            unprocessable,
            "invalid_request",
            "allowed_origins[0] must start with https:// or http://",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(
                json!({"allowed_origins": ["https://shop.example.com/cart"], "identity_verification": "off"}),
            ),
            unprocessable,
            "invalid_request",
            "without a path",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(
                json!({"allowed_origins": [], "identity_verification": "off", "theme": "dark"}),
            ),
            unprocessable,
            "invalid_request",
            "unknown field `theme`",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Raw("application/json", "{\"allowed_origins\": ["),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
        ),
    ];
    for (method, path, by, body, status, code, fragment) in &cases {
        let case = format!("{method} {path} as {}", by.key_id);
        let got = api(&app, method.clone(), path, Some(&by.key), body).await;
        expect_error(&got, *status, code, fragment, &case);
    }
    for (method, path) in [
        (Method::GET, format!("/knowledge?agent_id={mine}")),
        (Method::GET, "/conversations/nope".to_owned()),
        (Method::POST, "/conversations/nope/end".to_owned()),
        (Method::GET, format!("/agents/{mine}/embed")),
        (Method::PUT, format!("/agents/{mine}/embed")),
    ] {
        let case = format!("anonymous {method} {path}");
        let got = api(&app, method, &path, None, &Body::Json(embed.clone())).await;
        expect_error(
            &got,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing API key",
            &case,
        );
    }
    // Nothing changed: the other account's settings, and mine, are still the defaults.
    for (by, agent) in [(&other, &theirs), (&admin, &mine)] {
        let (status, settings) = app.get(&format!("/agents/{agent}/embed"), &by.key).await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_eq!(
            settings,
            json!({"allowed_origins": [], "identity_verification": "optional"})
        );
    }
}

/// A widget request from `origin` (none when empty), with a raw or JSON body and an
/// optional session token: status, body and the CORS header.
async fn widget(
    app: &TestApp,
    method: Method,
    path: &str,
    origin: &str,
    token: Option<&str>,
    body: &Body,
) -> (StatusCode, Value, Option<String>) {
    let mut request = app.request(method, path);
    if !origin.is_empty() {
        request = request.header("origin", origin);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request = match body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Raw(content_type, text) => request.header("content-type", *content_type).body(*text),
    };
    let response = request.send().await.unwrap();
    let cors = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, cors)
}

#[tokio::test]
async fn the_widget_refuses_unverified_visitors_bad_bodies_and_missing_sessions_with_codes() {
    let app = TestApp::with_flags(FLAGS).await;
    let admin = app.account("owner@example.com").await;
    let agent = app.agent(&admin, "Shop helper").await;
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/agents/{agent}/embed"),
            &admin.key,
            Some(json!({"allowed_origins": [SHOP], "identity_verification": "required"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, secret) = app.get("/webhooks/signing-secret", &admin.key).await;
    let secret = secret["secret"].as_str().unwrap().to_owned();
    let other = app.account("other@example.com").await;
    let (_, theirs) = app.get("/webhooks/signing-secret", &other.key).await;
    let theirs = theirs["secret"].as_str().unwrap().to_owned();
    let check = format!("/widget/check?agent_id={agent}");

    // The right hash passes, so every refusal below is about the identity.
    let good = thinnestai::sign_hex(&secret, b"user_7");
    let body = json!({"agent_id": agent, "user_id": "user_7", "user_hash": good});
    let (status, welcome, cors) =
        widget(&app, Method::POST, &check, SHOP, None, &Body::Json(body)).await;
    assert_eq!(status, StatusCode::OK, "{welcome}");
    assert_eq!(
        (welcome["user_id"].as_str(), cors.as_deref()),
        (Some("user_7"), Some(SHOP))
    );

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"sub": "user_7", "exp": now + 600});
    let wrong_key = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&thinnestai::standard_key(&theirs).unwrap()),
    )
    .unwrap();
    let hash = "The user hash does not match the user id";
    let jwt = "The user JWT is not valid";
    let identities = [
        (json!({}), "invalid_user_hash", hash),
        (json!({"user_id": "user_7"}), "invalid_user_hash", hash),
        (json!({"user_hash": good}), "invalid_user_hash", hash),
        (
            json!({"user_id": "user_8", "user_hash": good}),
            "invalid_user_hash",
            hash,
        ),
        (
            json!({"user_id": "user_7", "user_hash": "0".repeat(64)}),
            "invalid_user_hash",
            hash,
        ),
        (
            json!({"user_id": "user_7", "user_hash": "not hex"}),
            "invalid_user_hash",
            hash,
        ),
        (
            json!({"user_id": "user_7", "user_hash": thinnestai::sign_hex(&theirs, b"user_7")}),
            "invalid_user_hash",
            hash,
        ),
        (json!({"user_jwt": "not.a.jwt"}), "invalid_user_token", jwt),
        (json!({"user_jwt": wrong_key}), "invalid_user_token", jwt),
        // A JWT is judged alone: a good hash beside a bad JWT does not help.
        (
            json!({"user_id": "user_7", "user_hash": good, "user_jwt": "x.y.z"}),
            "invalid_user_token",
            jwt,
        ),
    ];
    for (identity, code, fragment) in identities {
        let mut body = identity.clone();
        body["agent_id"] = json!(agent);
        let case = format!("check {identity}");
        let (status, answer, cors) =
            widget(&app, Method::POST, &check, SHOP, None, &Body::Json(body)).await;
        expect_error(
            &(status, answer),
            StatusCode::UNAUTHORIZED,
            code,
            fragment,
            &case,
        );
        assert_eq!(cors.as_deref(), Some(SHOP), "{case}: the page may read why");
    }

    // Bad bodies: (body, status, code, message fragment).
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let bad_bodies = [
        (
            Body::Json(json!({})),
            unprocessable,
            "invalid_request",
            "missing field `agent_id`",
        ),
        (
            Body::Json(json!({"user_id": "user_7"})),
            unprocessable,
            "invalid_request",
            "missing field `agent_id`",
        ),
        (
            Body::Json(json!({"agent_id": agent, "colour": "red"})),
            unprocessable,
            "invalid_request",
            "unknown field `colour`",
        ),
        (
            Body::Json(json!({"agent_id": 7})),
            unprocessable,
            "invalid_request",
            "invalid type",
        ),
        (
            Body::Json(json!({"agent_id": agent, "user_id": "a\u{0}b"})),
            unprocessable,
            "invalid_request",
            "user_id must not contain NUL characters",
        ),
        (
            Body::Json(json!({"agent_id": agent, "user_id": ""})),
            unprocessable,
            "invalid_request",
            "user_id must not be empty",
        ),
        (
            Body::Json(json!({"agent_id": agent, "user_name": "x".repeat(257)})),
            unprocessable,
            "invalid_request",
            "user_name must be at most 256 characters",
        ),
        (
            Body::Raw("application/json", "{\"agent_id\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
        ),
        (
            Body::Raw("text/plain", "agent_id=x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
        ),
        (
            Body::Json(json!({"agent_id": "agent_00000000000000000000000000000000"})),
            StatusCode::BAD_REQUEST,
            "bad_request",
            "agent_id differs between the query and the body",
        ),
    ];
    for (body, status, code, fragment) in &bad_bodies {
        let case = match body {
            Body::Json(value) => format!("check {value}"),
            Body::Raw(kind, text) => format!("check {kind} {text}"),
            Body::None => "check".to_owned(),
        };
        let (got, answer, _) = widget(&app, Method::POST, &check, SHOP, None, body).await;
        expect_error(&(got, answer), *status, code, fragment, &case);
    }
    for agent_id in ["nope", "agent_00000000000000000000000000000000"] {
        let body = Body::Json(json!({"agent_id": agent_id}));
        let got = widget(&app, Method::POST, "/widget/check", SHOP, None, &body).await;
        expect_error(
            &(got.0, got.1),
            StatusCode::NOT_FOUND,
            "not_found",
            "No agent with that id",
            agent_id,
        );
    }

    // /widget/messages without a session: 401 invalid_session, readable by an allowed
    // page that names the agent; refused for its origin otherwise.
    let messages = format!("/widget/messages?agent_id={agent}");
    let hello = Body::Json(json!({"message": "hello"}));
    let missing = "The widget session is missing, unknown or expired";
    let sessions = [
        (
            Method::GET,
            messages.clone(),
            SHOP,
            None,
            Body::None,
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            Some(SHOP),
        ),
        (
            Method::POST,
            messages.clone(),
            SHOP,
            None,
            hello.clone(),
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            Some(SHOP),
        ),
        (
            Method::GET,
            messages.clone(),
            SHOP,
            Some("wst_nope"),
            Body::None,
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            Some(SHOP),
        ),
        (
            Method::POST,
            messages.clone(),
            SHOP,
            Some(""),
            hello.clone(),
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            Some(SHOP),
        ),
        // A bad body does not get past the missing session.
        (
            Method::POST,
            messages.clone(),
            SHOP,
            None,
            Body::Raw("application/json", "{oops"),
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            Some(SHOP),
        ),
        (
            Method::GET,
            "/widget/messages".to_owned(),
            SHOP,
            None,
            Body::None,
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            None,
        ),
        (
            Method::POST,
            messages.clone(),
            "https://evil.example",
            None,
            hello.clone(),
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            missing,
            None,
        ),
        (
            Method::GET,
            messages.clone(),
            "",
            None,
            Body::None,
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "Allowed Origins",
            None,
        ),
    ];
    for (method, path, origin, token, body, status, code, fragment, readable) in &sessions {
        let case = format!("{method} {path} from {origin:?} with {token:?}");
        let (got, answer, cors) = widget(&app, method.clone(), path, origin, *token, body).await;
        expect_error(&(got, answer), *status, code, fragment, &case);
        assert_eq!(cors.as_deref(), *readable, "{case}");
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

/// A form's fields besides its CSRF token.
type Fields = Vec<(&'static str, &'static str)>;

const NOT_ALLOWED: &str = "Your role in this workspace does not allow this.";
const ELSEWHERE: &str = "There is nothing here, or it belongs to another workspace.";
/// What the dashboard says of a form it cannot read, as of a forged one.

#[tokio::test]
async fn the_webhooks_and_embed_pages_refuse_the_signed_out_weak_roles_strangers_and_bad_forms() {
    let app = TestApp::with_flags(FLAGS).await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "tables", "admin").await;
    let owner = Principal {
        account_id: String::new(),
        key_id: String::new(),
        key: key.clone(),
    };
    let agent = app.agent(&owner, "Shop helper").await;
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
    let id = hook(&app, &key).await;
    let base = format!("/app/settings/webhooks/{id}");
    let embed = format!("/app/agents/{agent}/embed");
    let redeliver = format!("{base}/deliveries/{NO_DELIVERY}/redeliver");

    // Every page and action, with a well-formed form: (GET or POST, path, fields).
    let actions: Vec<(Method, String, Fields)> = vec![
        (Method::GET, "/app/settings/webhooks".to_owned(), vec![]),
        (
            Method::POST,
            "/app/settings/webhooks".to_owned(),
            vec![
                ("url", "https://hooks.example.com/y"),
                ("events", "*"),
                ("description", ""),
            ],
        ),
        (
            Method::POST,
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "24")],
        ),
        (Method::GET, base.clone(), vec![]),
        (Method::POST, format!("{base}/test"), vec![]),
        (
            Method::POST,
            format!("{base}/enabled"),
            vec![("enabled", "false")],
        ),
        (Method::POST, redeliver.clone(), vec![]),
        (Method::POST, format!("{base}/delete"), vec![]),
        (Method::GET, embed.clone(), vec![]),
        (
            Method::POST,
            embed.clone(),
            vec![("origins", SHOP), ("identity_verification", "off")],
        ),
    ];
    // Signed out: every page and action sends the browser to sign in.
    let anonymous = Browser::new(&app);
    for (method, path, fields) in &actions {
        let page = submit(&anonymous, method, path, fields, "forged").await;
        assert_eq!(
            (page.status, page.location()),
            (StatusCode::SEE_OTHER, "/app/login"),
            "signed out {method} {path}: {}",
            page.body
        );
    }

    // Roles too weak, with a valid CSRF token: webhooks are for Admins; embed settings
    // are read by every role and saved by Editors and Admins.
    for (role, member) in &members {
        let token = csrf(member).await;
        for (method, path, fields) in &actions {
            let case = format!("{role} {method} {path}");
            let page = submit(member, method, path, fields, &token).await;
            match (path == &embed, *method == Method::GET, *role) {
                (true, true, _) | (true, false, "editor") => {
                    assert_eq!(page.status, StatusCode::OK, "{case}: {}", page.body)
                }
                _ => expect_page(&page, StatusCode::FORBIDDEN, NOT_ALLOWED, &case),
            }
        }
    }

    // Another workspace's Admin finds neither the endpoint nor the agent.
    let token = csrf(&stranger).await;
    for (method, path, fields) in &actions {
        if !path.starts_with(&base) && path != &embed {
            continue;
        }
        let case = format!("stranger {method} {path}");
        let page = submit(&stranger, method, path, fields, &token).await;
        expect_page(&page, StatusCode::NOT_FOUND, ELSEWHERE, &case);
    }
    // All of that left the endpoint as it was (enabled, there) and the embed as the
    // editor saved it.
    let (status, endpoint) = app.get(&format!("/webhooks/{id}"), &key).await;
    assert_eq!(
        (status, &endpoint["enabled"]),
        (StatusCode::OK, &json!(true)),
        "{endpoint}"
    );
    let (_, settings) = app.get(&format!("/agents/{agent}/embed"), &key).await;
    assert_eq!(
        settings,
        json!({"allowed_origins": [SHOP], "identity_verification": "off"})
    );

    // Bad input from the Admin: (path, fields, status, what the page says). A field the
    // form cannot hold is named with its problem (422), like a value the API refuses.
    let token = csrf(&admin).await;
    let enabled = format!("{base}/enabled");
    let bad_forms: Vec<(String, Fields, StatusCode, &str)> = vec![
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "abc")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours: invalid digit found in string",
        ),
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "-1")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours: invalid digit found in string",
        ),
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `grace_hours`",
        ),
        // Over a week, in the form's own unit.
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "169")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours must be between 0 and 168",
        ),
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "18446744073709551615")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours must be between 0 and 168",
        ),
        (
            enabled.clone(),
            vec![("enabled", "maybe")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "enabled: ",
        ),
        (
            enabled.clone(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `enabled`",
        ),
        (redeliver.clone(), vec![], StatusCode::NOT_FOUND, ELSEWHERE),
        (
            format!("{base}/deliveries/nope/redeliver"),
            vec![],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
        (
            format!("/app/settings/webhooks/{NO_HOOK}/test"),
            vec![],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
        (
            "/app/settings/webhooks/nope/delete".to_owned(),
            vec![],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
        (
            "/app/settings/webhooks".to_owned(),
            vec![
                ("url", "ftp://x"),
                ("events", "agent.nope"),
                ("description", ""),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "url must be an https:// URL",
        ),
        (
            embed.clone(),
            vec![("origins", SHOP), ("identity_verification", "sometimes")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "identity_verification: unknown variant `sometimes`",
        ),
        (
            embed.clone(),
            vec![("origins", SHOP)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `identity_verification`",
        ),
        (
            embed.clone(),
            vec![
                ("origins", "ftp://shop.example.com"),
                ("identity_verification", "off"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "allowed_origins[0] must start with https:// or http://",
        ),
        (
            "/app/agents/nope/embed".to_owned(),
            vec![("origins", SHOP), ("identity_verification", "off")],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
    ];
    for (path, fields, status, words) in &bad_forms {
        let case = format!("admin POST {path} {fields:?}");
        let page = submit(&admin, &Method::POST, path, fields, &token).await;
        expect_page(&page, *status, words, &case);
    }
    let (_, after) = app.get(&format!("/webhooks/{id}"), &key).await;
    assert_eq!(after["enabled"], true, "no bad form changed the endpoint");
    let (_, settings) = app.get(&format!("/agents/{agent}/embed"), &key).await;
    assert_eq!(
        settings,
        json!({"allowed_origins": [SHOP], "identity_verification": "off"})
    );

    // A test event to a disabled endpoint: the page says why (422), not a 500.
    let off = submit(
        &admin,
        &Method::POST,
        &enabled,
        &[("enabled", "false")],
        &token,
    )
    .await;
    expect_page(&off, StatusCode::OK, "Endpoint disabled.", "disable");
    let test = submit(&admin, &Method::POST, &format!("{base}/test"), &[], &token).await;
    expect_page(
        &test,
        StatusCode::UNPROCESSABLE_ENTITY,
        "This endpoint is disabled",
        "test while disabled",
    );
}
