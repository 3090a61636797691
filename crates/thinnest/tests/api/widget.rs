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
async fn conversations(app: &TestApp, key: &str, agent: &str) -> Vec<Value> {
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

#[tokio::test]
async fn live_sessions_follow_changes_to_allowed_origins_and_verification() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (admin, agent, secret) = setup(&app, "optional").await;
    let (_, anonymous, _) = session(&app, SHOP, json!({"agent_id": agent})).await;
    let anonymous = anonymous["session_token"].as_str().unwrap().to_owned();
    let hash = python_hash(&secret, "user_42").await;
    let (_, known, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": "user_42", "user_hash": hash}),
    )
    .await;
    assert_eq!(known["user_id"], "user_42");
    let known = known["session_token"].as_str().unwrap().to_owned();
    let path = format!("/widget/messages?agent_id={agent}");
    let embed = |origins: Value, verification: &str| {
        let body = json!({"allowed_origins": origins, "identity_verification": verification});
        let (app, admin, agent) = (&app, &admin, &agent);
        async move {
            let (status, saved) = app
                .call(
                    Method::PUT,
                    &format!("/agents/{agent}/embed"),
                    &admin.key,
                    Some(body),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{saved}");
        }
    };
    let ask = |token: &str, origin: &'static str| {
        let (app, path, token) = (&app, path.clone(), token.to_owned());
        async move {
            widget_call(
                app,
                Method::POST,
                &path,
                origin,
                &token,
                Some(json!({"message": "hi"})),
            )
            .await
        }
    };
    assert_eq!(ask(&anonymous, SHOP).await.0, StatusCode::OK);

    // The shop's origin is removed: its live sessions stop, and the page may not read why.
    embed(json!(["https://*.example.org"]), "optional").await;
    let (status, body, cors) = ask(&known, SHOP).await;
    assert_eq!(
        (status, body["error"].as_str(), cors),
        (StatusCode::FORBIDDEN, Some("origin_not_allowed"), None)
    );
    let (status, _, _) = widget_call(&app, Method::GET, &path, SHOP, &known, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Back, but verification is now required: the anonymous session must start over
    // (the page can read that), the verified one goes on.
    embed(json!([SHOP]), "required").await;
    let (status, body, cors) = ask(&anonymous, SHOP).await;
    assert_eq!(
        (status, body["error"].as_str(), cors.as_deref()),
        (
            StatusCode::UNAUTHORIZED,
            Some("invalid_session"),
            Some(SHOP)
        )
    );
    let (status, _, _) = widget_call(&app, Method::GET, &path, SHOP, &anonymous, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, reply, _) = ask(&known, SHOP).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let mine = conversations(&app, &admin.key, &agent)
        .await
        .into_iter()
        .find(|c| c["id"] == reply["conversation_id"])
        .unwrap();
    assert_eq!(mine["user_id"], "user_42");
}

#[tokio::test]
async fn an_agent_answers_a_limited_number_of_widget_messages_a_minute() {
    let app = TestApp::with_flags(&["--widget-messages-per-agent", "2"]).await;
    let (_, agent, _) = setup(&app, "off").await;
    let path = format!("/widget/messages?agent_id={agent}");
    // Two visitors share the agent's budget.
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (_, created, _) = session(&app, SHOP, json!({"agent_id": agent})).await;
        tokens.push(created["session_token"].as_str().unwrap().to_owned());
    }
    for token in [&tokens[0], &tokens[1]] {
        let (status, reply, _) = widget_call(
            &app,
            Method::POST,
            &path,
            SHOP,
            token,
            Some(json!({"message": "hi"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    let (status, body, cors) = widget_call(
        &app,
        Method::POST,
        &path,
        SHOP,
        &tokens[0],
        Some(json!({"message": "hi"})),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str(), cors.as_deref()),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("rate_limit_exceeded"),
            Some(SHOP)
        )
    );
    // Reading the history is not answering.
    let (status, _, _) = widget_call(&app, Method::GET, &path, SHOP, &tokens[0], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_hash_made_with_python_verifies_the_visitor_and_nothing_else_does() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (admin, agent, secret) = setup(&app, "required").await;
    let hash = python_hash(&secret, "user_42").await;
    let visitor = json!({"agent_id": agent, "user_id": "user_42", "user_name": "Ada", "user_email": "ada@example.com", "user_hash": hash});
    let (status, created, cors) = session(&app, SHOP, visitor.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(cors.as_deref(), Some(SHOP));
    assert_eq!(
        (created["user_id"].as_str(), created["user_name"].as_str()),
        (Some("user_42"), Some("Ada"))
    );

    // A hash made for another user, none at all, or garbage: refused, readable by the page.
    let other = python_hash(&secret, "user_43").await;
    for body in [
        json!({"agent_id": agent, "user_id": "user_42", "user_hash": other}),
        json!({"agent_id": agent, "user_id": "user_42"}),
        json!({"agent_id": agent}),
        json!({"agent_id": agent, "user_id": "user_42", "user_hash": "zz"}),
    ] {
        let (status, body, cors) = session(&app, SHOP, body).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_user_hash"))
        );
        assert_eq!(cors.as_deref(), Some(SHOP));
    }
    // The visitor's conversation carries the verified identity.
    let token = created["session_token"].as_str().unwrap();
    app.request(Method::POST, "/widget/messages")
        .header("origin", SHOP)
        .bearer_auth(token)
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    let (_, conversations) = app
        .get(&format!("/conversations?agent_id={agent}"), &admin.key)
        .await;
    let mine = &conversations["data"][0];
    assert_eq!(
        (mine["user_id"].as_str(), mine["user_email"].as_str()),
        (Some("user_42"), Some("ada@example.com"))
    );

    // During a rotation's grace period the old secret's hash still verifies; after, not.
    let (_, rotated) = app
        .post(
            "/webhooks/signing-secret/rotate",
            &admin.key,
            json!({"grace_seconds": 600}),
        )
        .await;
    assert_eq!(
        session(&app, SHOP, visitor.clone()).await.0,
        StatusCode::CREATED
    );
    let new_hash = python_hash(rotated["secret"].as_str().unwrap(), "user_42").await;
    let fresh = json!({"agent_id": agent, "user_id": "user_42", "user_hash": new_hash});
    assert_eq!(session(&app, SHOP, fresh).await.0, StatusCode::CREATED);
    app.post(
        "/webhooks/signing-secret/rotate",
        &admin.key,
        json!({"grace_seconds": 0}),
    )
    .await;
    let (status, body, _) = session(&app, SHOP, visitor).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_user_hash"))
    );
}

#[tokio::test]
async fn optional_verification_makes_unverified_visitors_anonymous() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, secret) = setup(&app, "optional").await;
    let (status, anonymous, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": "user_1", "user_name": "Mallory", "user_hash": "00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (anonymous["user_id"].clone(), anonymous["user_name"].clone()),
        (Value::Null, Value::Null)
    );
    let hash = python_hash(&secret, "user_1").await;
    let (_, known, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": "user_1", "user_hash": hash}),
    )
    .await;
    assert_eq!(known["user_id"], "user_1");
}

#[tokio::test]
async fn embed_settings_check_roles_accounts_and_origins() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let agent = app.agent(&admin, "Helper").await;
    let path = format!("/agents/{agent}/embed");
    let (status, defaults) = app.get(&path, &admin.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        defaults,
        json!({"allowed_origins": [], "identity_verification": "optional"})
    );
    let bad = json!({"allowed_origins": ["shop.example.com", "https://x.com/path", "https://*.com"], "identity_verification": "off"});
    let got = app.call(Method::PUT, &path, &admin.key, Some(bad)).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert_eq!(got.1["fields"].as_object().unwrap().len(), 3, "{}", got.1);
    let wrong = app
        .call(
            Method::PUT,
            &path,
            &admin.key,
            Some(json!({"allowed_origins": [], "identity_verification": "maybe"})),
        )
        .await;
    assert_eq!(wrong.0, StatusCode::UNPROCESSABLE_ENTITY);
    let viewer = app.key_with_role(&admin, "viewer").await;
    assert_eq!(app.get(&path, &viewer.key).await.0, StatusCode::OK);
    let ok = json!({"allowed_origins": [], "identity_verification": "off"});
    assert_error(
        &app.call(Method::PUT, &path, &viewer.key, Some(ok.clone()))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let other = app.account("other@example.com").await;
    assert_error(
        &app.get(&path, &other.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &crate::support::send(app.request(Method::GET, &path)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn the_script_is_cached_by_etag_and_widget_requests_are_limited_per_client() {
    let app = TestApp::with_flags(&["--widget-requests-per-ip", "3"]).await;
    let script = app.request(Method::GET, "/embed.js").send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    let etag = script.headers()["etag"].to_str().unwrap().to_owned();
    let text = script.text().await.unwrap();
    assert!(text.contains("attachShadow") && text.len() < 20_000);
    let again = app
        .request(Method::GET, "/embed.js")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let (_, agent, _) = setup(&app, "off").await;
    // Preflights read the database too, so they spend the same budget.
    let preflight = || {
        app.request(
            Method::OPTIONS,
            &format!("/widget/sessions?agent_id={agent}"),
        )
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .send()
    };
    assert_eq!(preflight().await.unwrap().status(), StatusCode::NO_CONTENT);
    for _ in 0..2 {
        assert_eq!(
            session(&app, SHOP, json!({"agent_id": agent})).await.0,
            StatusCode::CREATED
        );
    }
    let (status, body, _) = session(&app, SHOP, json!({"agent_id": agent})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limit_exceeded"))
    );
    let limited = preflight().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn customer_pages_in_chromium_get_the_widget_only_where_allowed() {
    use std::path::Path;
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    if !Path::new("/usr/bin/chromium").exists()
        || !flows.join("node_modules/playwright-core").exists()
    {
        crate::support::missing_peer("Chromium or playwright-core");
        return;
    }
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    // The customer's site: static pages served by Python on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = tempfile::tempdir().unwrap();
    let _server = tokio::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(site.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    let mut agents = Vec::new();
    for verification in ["optional", "required"] {
        let agent = app.agent(&admin, "Shop helper").await;
        let embed = json!({"allowed_origins": [origin], "identity_verification": verification});
        let (status, _) = app
            .call(
                Method::PUT,
                &format!("/agents/{agent}/embed"),
                &admin.key,
                Some(embed),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        agents.push(agent);
    }
    let doc = json!({"agent_id": agents[0], "title": "Delivery", "text": "Parcels are delivered within 2 working days by bicycle courier."});
    assert_eq!(
        app.post("/knowledge", &admin.key, doc).await.0,
        StatusCode::CREATED
    );
    let page = |agent: &str, extra: &str| {
        format!(
            "<!doctype html><html lang=\"en\"><head><title>Example shop</title></head><body>\
             <h1>Example shop</h1><p>Welcome to our shop.</p>\
             <script src=\"{}/embed.js\" data-agent-id=\"{agent}\" {extra} async></script></body></html>",
            app.https
        )
    };
    std::fs::write(site.path().join("shop.html"), page(&agents[0], "")).unwrap();
    std::fs::write(
        site.path().join("members.html"),
        page(
            &agents[1],
            "data-user-id=\"user_42\" data-user-hash=\"0000\"",
        ),
    )
    .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    let out = tokio::process::Command::new("node")
        .arg(flows.join("widget.mjs"))
        .arg(format!("{origin}/shop.html"))
        .arg(format!("http://localhost:{port}/shop.html"))
        .arg(format!("{origin}/members.html"))
        .arg(&screenshots)
        .arg("How fast are parcels delivered?")
        .arg("2 working days")
        .output()
        .await
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("widget flows passed"),
        "{log}"
    );
    // Five page views, two conversations: one per session that had a message.
    let widget_conversations = conversations(&app, &admin.key, &agents[0]).await;
    assert_eq!(widget_conversations.len(), 2, "{widget_conversations:?}");
    assert!(conversations(&app, &admin.key, &agents[1]).await.is_empty());
}

#[tokio::test]
async fn the_embed_page_shows_the_snippet_and_saves_origins_for_editors_only() {
    use crate::dashboard::{dashboard_key, signed_up};
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "setup", "admin").await;
    let (_, agent) = app
        .post("/agents", &key, json!({"name": "Concierge"}))
        .await;
    let agent = agent["id"].as_str().unwrap().to_owned();
    let path = format!("/app/agents/{agent}/embed");
    let home = admin.get("/app").await;
    assert!(home.body.contains(&path), "{}", home.body);
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("data-agent-id=&#34;{agent}&#34;"))
            || page.body.contains(&format!("data-agent-id=\"{agent}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("hmac.new(SIGNING_SECRET.encode()"));
    // The JWT sample keys by the decoded secret, not the string that keys hashes.
    assert!(page.body.contains("b64decode(SIGNING_SECRET.removeprefix("));
    let csrf = page.csrf();
    let bad = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("origins", "shop.example.com"),
                ("identity_verification", "required"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("allowed_origins[0]"), "{}", bad.body);
    let saved = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                (
                    "origins",
                    "https://Shop.example.com\n\nhttps://*.example.org",
                ),
                ("identity_verification", "required"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let (_, embed) = app.get(&format!("/agents/{agent}/embed"), &key).await;
    assert_eq!(
        embed,
        json!({"allowed_origins": ["https://*.example.org", "https://shop.example.com"], "identity_verification": "required"})
    );

    let viewer = signed_up(&app, "viewer@example.com").await;
    let token = crate::team::invite(&app, &admin, "viewer@example.com", "viewer").await;
    crate::team::accept(&viewer, &token).await;
    let seen = viewer.get(&path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains(">Save</button>"));
    let refused = viewer
        .post(
            &path,
            &[
                ("csrf_token", &seen.csrf()),
                ("origins", ""),
                ("identity_verification", "off"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let stranger = signed_up(&app, "stranger@example.com").await;
    assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND);
}

/// An HS256 JWT made with Python's standard library, as a customer's server might:
/// keyed by the base64-decoded part of the secret after `whsec_`.
async fn python_jwt(secret: &str, claims: Value, alg: &str) -> String {
    jwt_keyed(secret, claims, alg, "decoded").await
}

/// An HS256 JWT keyed by the secret's decoded bytes, or by its string (`raw`), which
/// is the key of user hashes and must not verify.
async fn jwt_keyed(secret: &str, claims: Value, alg: &str, key: &str) -> String {
    let script = "import base64, hashlib, hmac, json, sys\n\
        b = lambda d: base64.urlsafe_b64encode(d).rstrip(b'=').decode()\n\
        secret = sys.argv[1]\n\
        key = secret.encode() if sys.argv[4] == 'raw' else base64.b64decode(secret.removeprefix('whsec_'))\n\
        head = b(json.dumps({'alg': sys.argv[3], 'typ': 'JWT'}).encode())\n\
        body = b(sys.argv[2].encode())\n\
        sig = b(hmac.new(key, f'{head}.{body}'.encode(), hashlib.sha256).digest())\n\
        print(f'{head}.{body}.{sig}')";
    let out = tokio::process::Command::new("python3")
        .args(["-c", script, secret, &claims.to_string(), alg, key])
        .output()
        .await
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_short_lived_jwt_identifies_a_visitor_instead_of_a_hash() {
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, secret) = setup(&app, "required").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let good = python_jwt(
        &secret,
        json!({"sub": "user_7", "name": "Grace", "exp": now + 600}),
        "HS256",
    )
    .await;
    let (status, created, _) =
        session(&app, SHOP, json!({"agent_id": agent, "user_jwt": good})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        (created["user_id"].as_str(), created["user_name"].as_str()),
        (Some("user_7"), Some("Grace"))
    );
    for token in [
        python_jwt(&secret, json!({"sub": "user_7", "exp": now - 120}), "HS256").await,
        // Expired a moment ago, or expiring now: no leeway, no session born dead.
        python_jwt(&secret, json!({"sub": "user_7", "exp": now - 5}), "HS256").await,
        python_jwt(&secret, json!({"sub": "user_7", "exp": now}), "HS256").await,
        // Keyed by the secret string, as user hashes are: refused.
        jwt_keyed(
            &secret,
            json!({"sub": "user_7", "exp": now + 600}),
            "HS256",
            "raw",
        )
        .await,
        python_jwt(
            &secret,
            json!({"sub": "user_7", "exp": now + 7200}),
            "HS256",
        )
        .await,
        python_jwt(&secret, json!({"sub": "user_7"}), "HS256").await,
        python_jwt(&secret, json!({"sub": "user_7", "exp": now + 600}), "none").await,
        python_jwt(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            json!({"sub": "user_7", "exp": now + 600}),
            "HS256",
        )
        .await,
        "not.a.jwt".to_owned(),
    ] {
        let (status, body, _) =
            session(&app, SHOP, json!({"agent_id": agent, "user_jwt": token})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_user_token")),
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_user_hash_of_a_jwt_signing_input_is_not_a_jwt_signature() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, secret) = setup(&app, "required").await;
    // An attacker picks a "user id" that is a JWT's signing input for any sub...
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = json!({"sub": "admin", "exp": now + 600}).to_string();
    let input = format!("{head}.{}", URL_SAFE_NO_PAD.encode(claims));
    // ...and gets the customer's server to hash it, as it hashes any user id.
    let hash = python_hash(&secret, &input).await;
    let (status, _, _) = session(
        &app,
        SHOP,
        json!({"agent_id": agent, "user_id": input, "user_hash": hash}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "a valid hash for that id");
    // The hash's bytes as the token's signature do not make a token.
    let signature = URL_SAFE_NO_PAD.encode(hex::decode(&hash).unwrap());
    let forged = format!("{input}.{signature}");
    let (status, body, _) =
        session(&app, SHOP, json!({"agent_id": agent, "user_jwt": forged})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_user_token"))
    );
}

/// `curl -i` with the CA the server generated; returns the status line and headers
/// (lowercased) and the body.
async fn curl(app: &TestApp, args: &[&str]) -> (String, String) {
    let ca = app.data_dir.path().join("tls/ca.pem");
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-i", "--cacert"])
        .arg(&ca)
        .args(args)
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_lowercase(), body.to_owned())
}

#[tokio::test]
async fn origin_rules_hold_for_curl() {
    if !crate::support::installed("curl").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, _) = setup(&app, "off").await;
    let url = format!("{}/widget/sessions?agent_id={agent}", app.https);
    let body = json!({"agent_id": agent}).to_string();
    let post = |origin: &'static str| {
        let (url, body) = (url.clone(), body.clone());
        let app = &app;
        async move {
            curl(
                app,
                &[
                    "-H",
                    &format!("Origin: {origin}"),
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    &body,
                    &url,
                ],
            )
            .await
        }
    };
    let (head, body_text) = post(SHOP).await;
    assert!(
        head.starts_with("http/2 201") || head.starts_with("http/1.1 201"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-origin: https://shop.example.com"),
        "{head}"
    );
    assert!(body_text.contains("session_token"));
    let (head, body_text) = post("https://evil.example").await;
    assert!(head.contains(" 403"), "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    assert!(body_text.contains("origin_not_allowed"));
    let (head, _) = curl(
        &app,
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://shop.example.com",
            "-H",
            "Access-Control-Request-Method: POST",
            &url,
        ],
    )
    .await;
    assert!(
        head.contains(" 204") && head.contains("access-control-allow-methods: get, post"),
        "{head}"
    );
    let (head, _) = curl(
        &app,
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://evil.example",
            "-H",
            "Access-Control-Request-Method: POST",
            &url,
        ],
    )
    .await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}
