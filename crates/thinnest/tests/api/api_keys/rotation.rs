use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{key_id, names};
use crate::support::{TestApp, assert_error};

/// The statuses of `n` rotations of the key `id` sent at once with `by`.
async fn rotations_at_once(app: &TestApp, id: &str, by: &str, n: usize) -> Vec<StatusCode> {
    let path = format!("/api-keys/{id}/rotate");
    let rotations = (0..n).map(|_| app.call(Method::POST, &path, by, None));
    futures_util::future::join_all(rotations)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

#[tokio::test]
async fn rotation_without_grace_replaces_the_key_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let old = app.key_with_role(&admin, "editor").await;
    let id = key_id(&app, &admin, "editor").await;

    let (status, new) = app
        .call(
            Method::POST,
            &format!("/api-keys/{id}/rotate"),
            &admin.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    assert_eq!(new["name"], "editor");
    assert_eq!(new["role"], "editor");
    assert_ne!(new["id"].as_str(), Some(id.as_str()));
    let new_key = new["key"].as_str().unwrap();
    assert_error(
        &app.get("/agents", &old.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(app.get("/agents", new_key).await.0, StatusCode::OK);
}

#[tokio::test]
async fn rotation_with_grace_keeps_the_old_key_until_the_grace_ends() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let old = app.key_with_role(&admin, "viewer").await;
    let id = key_id(&app, &admin, "viewer").await;

    let (status, new) = app
        .post(
            &format!("/api-keys/{id}/rotate"),
            &admin.key,
            json!({"grace_seconds": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    assert_eq!(
        app.get("/agents", &old.key).await.0,
        StatusCode::OK,
        "still valid during grace"
    );
    let (_, info) = app.get(&format!("/api-keys/{id}"), &admin.key).await;
    assert!(info["expires_at"].is_string(), "{info}");

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_error(
        &app.get("/agents", &old.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_eq!(
        app.get("/agents", new["key"].as_str().unwrap()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rotation_keeps_the_name_role_and_expiry() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let (_, made) = app
        .post(
            "/api-keys",
            &admin.key,
            json!({"name": "ci", "role": "editor", "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    let id = made["id"].as_str().unwrap();
    let (status, new) = app
        .call(
            Method::POST,
            &format!("/api-keys/{id}/rotate"),
            made["key"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    assert_eq!((&new["name"], &new["role"]), (&made["name"], &made["role"]));
    assert_eq!(new["expires_at"], "2030-01-01T00:00:00.000Z");
    let (_, old) = app.get(&format!("/api-keys/{id}"), &admin.key).await;
    assert_eq!(old["replaced_by"], new["id"]);
}

#[tokio::test]
async fn a_key_is_replaced_once_even_when_rotations_race() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    app.key_with_role(&admin, "viewer").await;
    let id = key_id(&app, &admin, "viewer").await;
    let statuses = rotations_at_once(&app, &id, &admin.key, 6).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::CREATED, StatusCode::CONFLICT].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        names(&app, &admin.key).await,
        ["bootstrap", "viewer", "viewer"]
    );

    // A revoked key cannot be brought back by rotating it.
    app.key_with_role(&admin, "editor").await;
    let editor = key_id(&app, &admin, "editor").await;
    app.call(
        Method::DELETE,
        &format!("/api-keys/{editor}"),
        &admin.key,
        None,
    )
    .await;
    let got = app
        .call(
            Method::POST,
            &format!("/api-keys/{editor}/rotate"),
            &admin.key,
            None,
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn a_key_rotating_itself_in_parallel_is_replaced_once_without_a_deadlock() {
    let app = TestApp::spawn().await;
    for round in 0..20 {
        let admin = app.account(&format!("a{round}@example.com")).await;
        let statuses = rotations_at_once(&app, &admin.key_id, &admin.key, 4).await;
        let made = statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count();
        assert_eq!(made, 1, "{statuses:?}");
        // The others lost the race: the key was rotated while they ran (409), or before
        // they were authenticated, ending it at once (401). Never a deadlock's 500.
        let lost = [
            StatusCode::CREATED,
            StatusCode::CONFLICT,
            StatusCode::UNAUTHORIZED,
        ];
        assert!(statuses.iter().all(|s| lost.contains(s)), "{statuses:?}");
    }
}
