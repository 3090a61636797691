use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Principal, TestApp, assert_error, assert_not_stored, read};

/// The id of the key with this name, as the admin's list shows it.
async fn key_id(app: &TestApp, admin: &Principal, name: &str) -> String {
    let (_, list) = app.get("/api-keys", &admin.key).await;
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key named {name}: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_created_key_is_shown_once_and_lists_show_only_its_hint() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let response = app
        .request(Method::POST, "/api-keys")
        .bearer_auth(&admin.key)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "a secret must not be cached"
    );
    let (status, created) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["key"].as_str().unwrap();
    assert!(secret.starts_with("tai_"));
    assert_eq!(created["role"], "admin", "admin is the default role");
    assert_eq!(
        created["hint"],
        format!("tai_…{}", &secret[secret.len() - 4..])
    );

    let (status, _) = app.get("/agents", secret).await;
    assert_eq!(status, StatusCode::OK, "the new key works");

    let (_, list) = app.get("/api-keys", &admin.key).await;
    let text = list.to_string();
    assert!(!text.contains(secret), "the list leaks the secret");
    assert!(!text.contains(&admin.key), "the list leaks the secret");
    let ci = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .unwrap();
    for field in [
        "id",
        "name",
        "role",
        "hint",
        "status",
        "created_at",
        "created_by",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ] {
        assert!(ci.get(field).is_some(), "missing {field}: {ci}");
    }
    let (_, one) = app
        .get(
            &format!("/api-keys/{}", ci["id"].as_str().unwrap()),
            &admin.key,
        )
        .await;
    assert!(one.get("key").is_none() && !one.to_string().contains(secret));
}

#[tokio::test]
async fn no_plaintext_key_is_stored_anywhere() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let (_, created) = app
        .post("/api-keys", &admin.key, json!({"name": "ci"}))
        .await;
    let secret = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, rotated) = app
        .post(&format!("/api-keys/{id}/rotate"), &admin.key, json!({}))
        .await;
    let rotated = rotated["key"].as_str().unwrap().to_owned();
    // Sent over plain HTTP too, so the security event path is covered.
    app.plain(Method::GET, "/agents")
        .bearer_auth(&admin.key)
        .send()
        .await
        .unwrap();

    let mut bytes = app.db.dump().await;
    bytes.extend(crate::support::process::read_tree(app.data_dir.path()));
    assert_not_stored(&bytes, &[&admin.key, &secret, &rotated]);
}

#[tokio::test]
async fn a_revoked_key_is_rejected_on_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let other = app.key_with_role(&admin, "editor").await;
    let id = key_id(&app, &admin, "editor").await;

    let (status, revoked) = app
        .call(Method::DELETE, &format!("/api-keys/{id}"), &admin.key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    assert_error(
        &app.get("/agents", &other.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Revoking the key does not touch the account's resources.
    let (status, _) = app.get("/agents", &admin.key).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_key_is_rejected_at_once_by_a_second_instance_sharing_the_database() {
    let first = TestApp::spawn().await;
    let second = first.second_instance().await;
    let admin = first.account("a@example.com").await;
    let victim = first.key_with_role(&admin, "viewer").await;
    let (status, _) = second.get("/agents", &victim.key).await;
    assert_eq!(status, StatusCode::OK, "the second instance knows the key");

    let id = key_id(&first, &admin, "viewer").await;
    let (status, _) = first
        .call(Method::DELETE, &format!("/api-keys/{id}"), &admin.key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &second.get("/agents", &victim.key).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    second.stop().await;
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
async fn an_expired_key_is_rejected() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, created) = app
        .post(
            "/api-keys",
            &admin.key,
            json!({"name": "short", "expires_at": soon}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_error(
        &app.get("/agents", created["key"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let (_, info) = app
        .get(
            &format!("/api-keys/{}", created["id"].as_str().unwrap()),
            &admin.key,
        )
        .await;
    assert_eq!(info["status"], "expired");
}

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

/// The names an editor's list shows.
async fn names(app: &TestApp, key: &str) -> Vec<String> {
    let (status, list) = app.get("/api-keys", key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut names: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
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

    // After rotating itself, the editor still holds what it created.
    let own_id = key_id(&app, &admin, "editor").await;
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/api-keys/{own_id}/rotate"),
            &editor.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let editor2 = rotated["key"].as_str().unwrap();
    assert_eq!(names(&app, editor2).await, ["editor", "editor", "mine"]);
    let mine = key_id(&app, &admin, "mine").await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/api-keys/{mine}"), editor2, None)
        .await;
    assert_eq!(status, StatusCode::OK);
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
    let path = format!("/api-keys/{id}/rotate");
    let rotations = (0..6).map(|_| app.call(Method::POST, &path, &admin.key, None));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(rotations)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
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

#[tokio::test]
async fn bad_key_requests_get_clear_4xx_answers() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "expires_at": "tomorrow"}), "expires_at"),
        (
            json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ];
    for (body, field) in cases {
        let got = app.post("/api-keys", &admin.key, body).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
        assert!(got.1["fields"][field].is_string(), "{}", got.1);
    }
    let got = app
        .post(
            "/api-keys",
            &admin.key,
            json!({"name": "x", "role": "owner"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(got.1["message"].as_str().unwrap().contains("owner"));

    let id = key_id(&app, &admin, "bootstrap").await;
    let got = app
        .post(
            &format!("/api-keys/{id}/rotate"),
            &admin.key,
            json!({"grace_seconds": 604_801}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(got.1["fields"]["grace_seconds"].is_string());
    assert_error(
        &app.get("/api-keys/key_nope", &admin.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
