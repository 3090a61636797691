use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::key_id;
use crate::support::{TestApp, assert_error, assert_not_stored, read};

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

#[tokio::test]
async fn a_retired_key_tried_again_and_again_leaves_one_security_event_with_a_count() {
    let app = TestApp::with_flags(&["--trusted-proxy", "127.0.0.1/32"]).await;
    let admin = app.account("a@example.com").await;
    let old = app.key_with_role(&admin, "viewer").await;
    let path = format!("/api-keys/{}", old.key_id);
    app.call(Method::DELETE, &path, &admin.key, None).await;
    // One client, hopping addresses inside its IPv6 /64.
    for n in 1..=5 {
        let got = crate::support::send(
            app.request(Method::GET, "/agents")
                .bearer_auth(&old.key)
                .header("x-forwarded-for", format!("2001:db8:1:2::{n}")),
        )
        .await;
        assert_eq!(got.0, StatusCode::UNAUTHORIZED);
    }
    let mut events = serde_json::Value::Null;
    for _ in 0..50 {
        let (_, info) = app.get(&path, &admin.key).await;
        events = info["security_events"].clone();
        if events[0]["count"] == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "revoked_key_used");
    assert_eq!(events[0]["client_ip"], "2001:db8:1:2::/64");
    assert_eq!(events[0]["count"], 5);
    let (_, list) = app.get("/api-keys", &admin.key).await;
    let listed = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == old.key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(listed["security_event_count"], 5);
}
