//! Widget sessions held to the agent's current settings, the widget's own message limit,
//! who may change embed settings, and the script's caching.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error};
use crate::widget::{SHOP, conversations, python_hash, session, setup, widget_call};

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
