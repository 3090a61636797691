//! The embedded widget's public API: Allowed Origins and CORS, identity verification
//! with a hash computed by Python's `hmac` and JWTs keyed apart from it, sessions bound
//! to their origin and held to the agent's current settings, conversations created
//! only with a session's first message, the script's caching, and abuse limits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error, read};

pub const SHOP: &str = "https://shop.example.com";

/// The hex HMAC-SHA256 of `user_id` keyed by `secret`, as the customer's server
/// would compute it with only Python's standard library.
pub async fn python_hash(secret: &str, user_id: &str) -> String {
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib, hmac, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())",
            secret,
            user_id,
        ])
        .output()
        .await
        .expect("python3");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub async fn setup(
    app: &TestApp,
    verification: &str,
) -> (crate::support::Principal, String, String) {
    let admin = app.account("owner@example.com").await;
    let agent = app.agent(&admin, "Shop helper").await;
    let embed = json!({"allowed_origins": ["https://shop.example.com/", "https://*.example.org"], "identity_verification": verification});
    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/agents/{agent}/embed"),
            &admin.key,
            Some(embed),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        saved["allowed_origins"],
        json!(["https://*.example.org", "https://shop.example.com"])
    );
    let (_, secret) = app.get("/webhooks/signing-secret", &admin.key).await;
    (admin, agent, secret["secret"].as_str().unwrap().to_owned())
}

pub async fn session(
    app: &TestApp,
    origin: &str,
    body: Value,
) -> (StatusCode, Value, Option<String>) {
    let agent = body["agent_id"].as_str().unwrap_or_default().to_owned();
    let response = app
        .request(Method::POST, &format!("/widget/sessions?agent_id={agent}"))
        .header("origin", origin)
        .json(&body)
        .send()
        .await
        .unwrap();
    let cors = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, cors)
}

/// A widget request with a session token from `origin`: status, body and the CORS
/// header.
pub async fn widget_call(
    app: &TestApp,
    method: Method,
    path: &str,
    origin: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = app
        .request(method, path)
        .header("origin", origin)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let cors = response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, cors)
}

/// The account's conversations with `agent`.
pub(crate) async fn conversations(app: &TestApp, key: &str, agent: &str) -> Vec<Value> {
    let (status, listed) = app
        .get(&format!("/conversations?agent_id={agent}"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn allowed_origins_get_sessions_and_cors_headers_and_others_get_neither() {
    let app = TestApp::spawn().await;
    let (admin, agent, _) = setup(&app, "off").await;

    let (status, created, cors) = session(&app, SHOP, json!({"agent_id": agent})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(cors.as_deref(), Some(SHOP));
    assert!(
        created["session_token"]
            .as_str()
            .unwrap()
            .starts_with("wst_")
    );
    assert_eq!(created["agent"]["name"], "Shop helper");
    let (status, _, cors) =
        session(&app, "https://blog.example.org", json!({"agent_id": agent})).await;
    assert_eq!(
        (status, cors.as_deref()),
        (StatusCode::CREATED, Some("https://blog.example.org"))
    );

    for origin in [
        "https://evil.example",
        "https://example.org",
        "http://shop.example.com",
    ] {
        let (status, body, cors) = session(&app, origin, json!({"agent_id": agent})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("origin_not_allowed")),
            "{origin}"
        );
        assert_eq!(cors, None, "{origin}");
    }
    // No Origin at all (not a browser page): refused too.
    let bare = read(
        app.request(Method::POST, "/widget/sessions")
            .json(&json!({"agent_id": agent}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error(&bare, StatusCode::FORBIDDEN, "origin_not_allowed");
    let unknown = session(
        &app,
        SHOP,
        json!({"agent_id": "agent_00000000000000000000000000000000"}),
    )
    .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);

    // Preflight: allowed origins only.
    let preflight = |origin: &'static str| {
        app.request(
            Method::OPTIONS,
            &format!("/widget/sessions?agent_id={agent}"),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
    };
    let ok = preflight(SHOP).await.unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(ok.headers()["access-control-allow-origin"], SHOP);
    assert!(
        ok.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        ok.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("content-type")
    );
    let no = preflight("https://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
    // The messages' preflight names the agent too; without it, no CORS.
    for (query, expected) in [
        (format!("?agent_id={agent}"), Some(SHOP)),
        (String::new(), None),
    ] {
        let answer = app
            .request(Method::OPTIONS, &format!("/widget/messages{query}"))
            .header("origin", SHOP)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        let got = answer
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref(), expected, "{query}");
    }

    // Sessions alone leave no conversation behind.
    assert_eq!(
        conversations(&app, &admin.key, &agent).await,
        Vec::<Value>::new()
    );

    // Messages: with the session's token, from its origin only.
    let token = created["session_token"].as_str().unwrap();
    let message = |origin: &'static str, text: &'static str| {
        app.request(Method::POST, "/widget/messages")
            .header("origin", origin)
            .bearer_auth(token)
            .json(&json!({"message": text}))
            .send()
    };
    let answered = message(SHOP, "hello").await.unwrap();
    assert_eq!(answered.headers()["access-control-allow-origin"], SHOP);
    let (status, reply) = read(answered).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["reply"]["role"], "assistant");
    let stolen = message("https://evil.example", "hello").await.unwrap();
    assert!(
        stolen
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_error(
        &read(stolen).await,
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
    );
    let forged = app
        .request(Method::POST, "/widget/messages")
        .header("origin", SHOP)
        .bearer_auth("wst_nope")
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_error(
        &read(forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    );
    // Naming the agent, an allowed page may read that it needs a new session; another
    // origin may not.
    let path = format!("/widget/messages?agent_id={agent}");
    let (status, body, cors) = widget_call(&app, Method::GET, &path, SHOP, "wst_nope", None).await;
    assert_eq!(
        (status, body["error"].as_str(), cors.as_deref()),
        (
            StatusCode::UNAUTHORIZED,
            Some("invalid_session"),
            Some(SHOP)
        )
    );
    let (_, _, cors) = widget_call(
        &app,
        Method::GET,
        &path,
        "https://evil.example",
        "wst_nope",
        None,
    )
    .await;
    assert_eq!(cors, None);
    let listed = app
        .request(Method::GET, "/widget/messages")
        .header("origin", SHOP)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (_, listed) = read(listed).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
    let empty = app
        .request(Method::POST, "/widget/messages")
        .header("origin", SHOP)
        .bearer_auth(token)
        .json(&json!({"message": ""}))
        .send()
        .await
        .unwrap();
    assert_error(
        &read(empty).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );

    // The widget conversation is the account's, anonymous here.
    let listed = conversations(&app, &admin.key, &agent).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], reply["conversation_id"]);
    assert_eq!(listed[0]["channel"], "widget");
    assert_eq!(listed[0]["user_id"], Value::Null);
}

#[tokio::test]
async fn a_conversation_starts_with_the_first_message_not_with_the_page_or_the_session() {
    let app = TestApp::spawn().await;
    let (admin, agent, _) = setup(&app, "off").await;
    // The script's check on page load: what a session would say, nothing stored.
    let check = app
        .request(Method::POST, &format!("/widget/check?agent_id={agent}"))
        .header("origin", SHOP)
        .json(&json!({"agent_id": agent}))
        .send()
        .await
        .unwrap();
    assert_eq!(check.headers()["access-control-allow-origin"], SHOP);
    let (status, welcome) = read(check).await;
    assert_eq!(status, StatusCode::OK, "{welcome}");
    assert_eq!(welcome["agent"]["name"], "Shop helper");
    assert!(welcome.get("session_token").is_none());
    let refused = app
        .request(Method::POST, "/widget/check")
        .header("origin", "https://evil.example")
        .json(&json!({"agent_id": agent}))
        .send()
        .await
        .unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_error(
        &read(refused).await,
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
    );
    assert_eq!(app.db.count("widget_sessions").await, 0);

    // A session, and its empty history: still no conversation.
    let (_, created, _) = session(&app, SHOP, json!({"agent_id": agent})).await;
    assert!(created.get("conversation_id").is_none(), "{created}");
    let token = created["session_token"].as_str().unwrap();
    let path = format!("/widget/messages?agent_id={agent}");
    let (status, history, _) = widget_call(&app, Method::GET, &path, SHOP, token, None).await;
    assert_eq!((status, history), (StatusCode::OK, json!({"data": []})));
    assert_eq!(app.db.count("conversations").await, 0);

    // The first message creates it; the next ones continue it.
    let mut ids = Vec::new();
    for text in ["hello", "and again"] {
        let (status, reply, _) = widget_call(
            &app,
            Method::POST,
            &path,
            SHOP,
            token,
            Some(json!({"message": text})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        ids.push(reply["conversation_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids[0], ids[1]);
    let listed = conversations(&app, &admin.key, &agent).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], ids[0].as_str());
    let (_, history, _) = widget_call(&app, Method::GET, &path, SHOP, token, None).await;
    assert_eq!(history["data"].as_array().unwrap().len(), 4, "{history}");
}

#[tokio::test]
async fn first_messages_at_once_share_a_conversation_and_a_failed_first_reply_leaves_none() {
    let app = TestApp::with_flags(&["--llm-base-url", "http://127.0.0.1:9/v1"]).await;
    let (admin, agent, _) = setup(&app, "off").await;
    let path = format!("/widget/messages?agent_id={agent}");

    // Two first messages of one session at once: one conversation, holding both.
    let (_, created, _) = session(&app, SHOP, json!({"agent_id": agent})).await;
    let token = created["session_token"].as_str().unwrap();
    let say = |text: &'static str| {
        widget_call(
            &app,
            Method::POST,
            &path,
            SHOP,
            token,
            Some(json!({"message": text})),
        )
    };
    let (first, second) = tokio::join!(say("hello"), say("hi there"));
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    assert_eq!(first.1["conversation_id"], second.1["conversation_id"]);
    assert_eq!(app.db.count("conversations").await, 1);
    let (_, history, _) = widget_call(&app, Method::GET, &path, SHOP, token, None).await;
    assert_eq!(history["data"].as_array().unwrap().len(), 4, "{history}");

    // A first message the agent's engine fails to answer stores nothing.
    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/agents/{agent}"),
            &admin.key,
            Some(json!({"model": "gpt-test"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (_, created, _) = session(&app, SHOP, json!({"agent_id": agent})).await;
    let token = created["session_token"].as_str().unwrap();
    let (status, failed, _) = widget_call(
        &app,
        Method::POST,
        &path,
        SHOP,
        token,
        Some(json!({"message": "hello"})),
    )
    .await;
    assert_error(
        &(status, failed),
        StatusCode::BAD_GATEWAY,
        "engine_unavailable",
    );
    assert_eq!(app.db.count("conversations").await, 1);
    let (_, history, _) = widget_call(&app, Method::GET, &path, SHOP, token, None).await;
    assert_eq!(history, json!({"data": []}));
}
