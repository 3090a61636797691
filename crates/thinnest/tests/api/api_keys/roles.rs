use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{key_id, names};
use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn nobody_creates_a_key_with_more_power_than_their_own() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let editor = app.key_with_role(&admin, "editor").await;
    assert_error(
        &app.post(
            "/api-keys",
            &editor.key,
            json!({"name": "up", "role": "admin"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // An editor's key defaults to its own role.
    let (status, made) = app
        .post("/api-keys", &editor.key, json!({"name": "mine"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["role"], "editor");
    let (status, _) = app
        .post(
            "/api-keys",
            &editor.key,
            json!({"name": "low", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_editor_key_manages_only_itself_and_the_keys_it_created() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let editor = app.key_with_role(&admin, "editor").await;
    let peer = app.key_with_role(&admin, "viewer").await;
    let (status, _) = app
        .post(
            "/api-keys",
            &editor.key,
            json!({"name": "mine", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(names(&app, &editor.key).await, ["editor", "mine"]);

    // Keys the admin made, its own and another editor's or viewer's, are out of reach.
    for other in ["bootstrap", "viewer"] {
        let id = key_id(&app, &admin, other).await;
        for (method, path) in [
            (Method::GET, format!("/api-keys/{id}")),
            (Method::DELETE, format!("/api-keys/{id}")),
            (Method::POST, format!("/api-keys/{id}/rotate")),
        ] {
            assert_error(
                &app.call(method, &path, &editor.key, None).await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
    }
    assert_eq!(
        app.get("/agents", &peer.key).await.0,
        StatusCode::OK,
        "the viewer key untouched"
    );

    // What it created stays in its reach.
    let mine = key_id(&app, &admin, "mine").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api-keys/{mine}"),
            &editor.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_viewer_key_cannot_manage_keys() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let viewer = app.key_with_role(&admin, "viewer").await;
    let id = key_id(&app, &admin, "bootstrap").await;
    for (method, path, body) in [
        (Method::GET, "/api-keys".to_owned(), None),
        (
            Method::POST,
            "/api-keys".to_owned(),
            Some(json!({"name": "x", "role": "viewer"})),
        ),
        (Method::GET, format!("/api-keys/{id}"), None),
        (Method::DELETE, format!("/api-keys/{id}"), None),
        (Method::POST, format!("/api-keys/{id}/rotate"), None),
    ] {
        assert_error(
            &app.call(method, &path, &viewer.key, body).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
}

#[tokio::test]
async fn another_accounts_key_is_not_found() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let b = app.account("b@example.com").await;
    let a_key = key_id(&app, &a, "bootstrap").await;
    for (method, path) in [
        (Method::GET, format!("/api-keys/{a_key}")),
        (Method::DELETE, format!("/api-keys/{a_key}")),
        (Method::POST, format!("/api-keys/{a_key}/rotate")),
    ] {
        assert_error(
            &app.call(method, &path, &b.key, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    assert_eq!(app.get("/agents", &a.key).await.0, StatusCode::OK);
    let (_, b_list) = app.get("/api-keys", &b.key).await;
    assert_eq!(b_list["data"].as_array().unwrap().len(), 1);
}
