use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn an_agent_is_created_read_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let (status, created) = app
        .post(
            "/agents",
            &admin.key,
            json!({"name": " Receptionist ", "instructions": "Be brief.", "first_message": "Hello!",
                   "voice": {"voice_id": "nova", "speed": 1.2}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("agent_"));
    assert_eq!(created["name"], "Receptionist");
    assert_eq!(created["model"], "builtin");
    assert_eq!(created["voice"]["voice_id"], "nova");
    assert_eq!(created["voice"]["language"], "en-US");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let (status, read) = app.get(&format!("/agents/{id}"), &admin.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/agents/{id}"),
            &admin.key,
            Some(json!({"description": "Front desk"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["description"], "Front desk");
    assert_eq!(
        changed["instructions"], "Be brief.",
        "untouched fields stay"
    );

    let (status, body) = app
        .call(Method::DELETE, &format!("/agents/{id}"), &admin.key, None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    assert_error(
        &app.get(&format!("/agents/{id}"), &admin.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn agents_are_listed_newest_first_page_by_page() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(app.agent(&admin, &format!("agent {i}")).await);
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut path = "/agents?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path, &admin.key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2);
        seen.extend(data.iter().map(|a| a["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/agents?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, made);
}

#[tokio::test]
async fn another_accounts_agent_is_not_found() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let b = app.account("b@example.com").await;
    let id = app.agent(&a, "mine").await;
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "x"}))),
        (Method::DELETE, None),
    ] {
        assert_error(
            &app.call(method, &format!("/agents/{id}"), &b.key, body)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let (_, list) = app.get("/agents", &b.key).await;
    assert!(list["data"].as_array().unwrap().is_empty());
    let (_, still) = app.get(&format!("/agents/{id}"), &a.key).await;
    assert_eq!(still["name"], "mine");
}

#[tokio::test]
async fn a_viewer_reads_agents_but_cannot_change_them() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let viewer = app.key_with_role(&admin, "viewer").await;
    let id = app.agent(&admin, "shared").await;
    assert_eq!(app.get("/agents", &viewer.key).await.0, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/agents/{id}"), &viewer.key).await.0,
        StatusCode::OK
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/agents".to_owned(),
            Some(json!({"name": "x"})),
        ),
        (
            Method::POST,
            "/agents".to_owned(),
            Some(json!({"colour": 1})),
        ),
        (
            Method::PATCH,
            format!("/agents/{id}"),
            Some(json!({"name": 5})),
        ),
        (
            Method::PATCH,
            format!("/agents/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/agents/{id}"), None),
    ] {
        assert_error(
            &app.call(method, &path, &viewer.key, body).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}

#[tokio::test]
async fn an_editor_creates_and_changes_agents() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let editor = app.key_with_role(&admin, "editor").await;
    let id = app.agent(&editor, "by editor").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/agents/{id}"),
            &editor.key,
            Some(json!({"model": "gpt-4o-mini"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.call(Method::DELETE, &format!("/agents/{id}"), &editor.key, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn bad_agent_input_is_a_clear_4xx() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let got = app
        .post(
            "/agents",
            &admin.key,
            json!({"name": "  ", "voice": {"speed": 9.0}}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(
        got.1["fields"]["name"].is_string() && got.1["fields"]["voice.speed"].is_string(),
        "{}",
        got.1
    );

    let got = app
        .post("/agents", &admin.key, json!({"name": "x", "colour": "red"}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(
        got.1["message"].as_str().unwrap().contains("colour"),
        "{}",
        got.1
    );

    let got = app.post("/agents", &admin.key, json!({})).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(got.1["fields"]["name"].is_string(), "{}", got.1);
    let got = app
        .post("/agents", &admin.key, json!({"name": "a\u{0}b"}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    for path in [
        "/agents/agent_%00",
        "/agents/nope",
        "/agents/agent_01A21FE9E727737F8E5906C20093085A",
    ] {
        assert_error(
            &app.get(path, &admin.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        let deleted = app.call(Method::DELETE, path, &admin.key, None).await;
        assert_error(&deleted, StatusCode::NOT_FOUND, "not_found");
    }
    for query in ["limit=0", "limit=101", "limit=ten", "cursor=nope"] {
        assert_error(
            &app.get(&format!("/agents?{query}"), &admin.key).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
    }
    let id = app.agent(&admin, "ok").await;
    let got = app
        .call(
            Method::PATCH,
            &format!("/agents/{id}"),
            &admin.key,
            Some(json!({"name": ""})),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
}
