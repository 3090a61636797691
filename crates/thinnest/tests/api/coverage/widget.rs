//! `/widget/*`: unverified visitors, bad bodies, unknown agents and missing sessions,
//! each with its own code and, where the page may read it, the CORS header.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Body, FLAGS, SHOP, expect_error};
use crate::support::{Principal, TestApp, read};

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
    let response = body.attach(request).send().await.unwrap();
    let cors = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, cors)
}

/// An app with an agent embedded on the shop, which requires verified visitors: the
/// app, the owner and the agent.
async fn shop_agent() -> (TestApp, Principal, String) {
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
    (app, admin, agent)
}

/// The account's webhook signing secret, which also signs its visitors' identities.
async fn signing_secret(app: &TestApp, by: &Principal) -> String {
    let (_, secret) = app.get("/webhooks/signing-secret", &by.key).await;
    secret["secret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_widget_refuses_unverified_visitors_with_codes_the_page_may_read() {
    let (app, admin, agent) = shop_agent().await;
    let secret = signing_secret(&app, &admin).await;
    let other = app.account("other@example.com").await;
    let theirs = signing_secret(&app, &other).await;
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
}

#[tokio::test]
async fn the_widget_refuses_bad_bodies_and_unknown_agents_with_codes() {
    let (app, _, agent) = shop_agent().await;
    let check = format!("/widget/check?agent_id={agent}");

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
        let case = body.describe("check");
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
}

#[tokio::test]
async fn widget_messages_without_a_session_are_refused_and_readable_only_by_allowed_pages() {
    let (app, _, agent) = shop_agent().await;

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
