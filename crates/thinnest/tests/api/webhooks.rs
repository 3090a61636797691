//! Webhook signing secret and endpoints (deliveries come with the dispatcher).

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error, send};

async fn secret(app: &TestApp, key: &str) -> Value {
    let (status, body) = app.get("/webhooks/signing-secret", key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn rotate(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    app.post("/webhooks/signing-secret/rotate", key, body).await
}

#[tokio::test]
async fn the_signing_secret_is_stable_sealed_at_rest_and_rotates_with_a_grace_period() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let first = secret(&app, &admin.key).await;
    let text = first["secret"].as_str().unwrap().to_owned();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert_eq!(raw.len(), 32);
    assert_eq!(first["previous_expires_at"], Value::Null);
    assert_eq!(secret(&app, &admin.key).await["secret"], text.as_str());
    // Another account has its own.
    let other = app.account("other@example.com").await;
    assert_ne!(secret(&app, &other.key).await["secret"], text.as_str());

    let (status, rotated) = rotate(&app, &admin.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, text);
    let until = rotated["previous_expires_at"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let until_s =
        time::OffsetDateTime::parse(until, &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp();
    assert!((until_s - now - 86_400).abs() < 60, "{until}");
    let read = secret(&app, &admin.key).await;
    assert_eq!(read["secret"], second.as_str());
    assert_eq!(read["previous_expires_at"], until);

    // No grace: the previous one stops at once.
    let (_, third) = rotate(&app, &admin.key, json!({"grace_seconds": 0})).await;
    assert_eq!(
        secret(&app, &admin.key).await["previous_expires_at"],
        Value::Null
    );
    let (_, log) = app.get("/audit-log", &admin.key).await;
    assert_eq!(log["data"][0]["action"], "webhooks.secret_rotated");

    // Every field is optional, so no body at all is a rotation with the default grace.
    let (status, fourth) = app
        .call(
            Method::POST,
            "/webhooks/signing-secret/rotate",
            &admin.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{fourth}");
    assert_ne!(fourth["secret"], third["secret"]);
    assert!(fourth["previous_expires_at"].is_string());

    for bad in [
        json!({"grace_seconds": 604_801}),
        json!({"grace_seconds": -1}),
        json!({"grace": 5}),
    ] {
        let got = rotate(&app, &admin.key, bad).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    }
    // Stored sealed, never in clear.
    let dump = app.db.dump().await;
    let third = third["secret"].as_str().unwrap();
    crate::support::assert_not_stored(&dump, &[&text, &second, third]);
}

#[tokio::test]
async fn only_admins_reach_webhooks() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let paths = [
        (Method::GET, "/webhooks/signing-secret"),
        (Method::POST, "/webhooks/signing-secret/rotate"),
        (Method::GET, "/webhooks"),
        (Method::POST, "/webhooks"),
    ];
    for (method, path) in paths.clone() {
        let got = send(app.request(method, path)).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for role in ["editor", "viewer"] {
        let member = app.key_with_role(&admin, role).await;
        for (method, path) in paths.clone() {
            let got = app.call(method, path, &member.key, Some(json!({}))).await;
            assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
        }
    }
}

#[tokio::test]
async fn endpoints_are_created_listed_changed_and_deleted_within_their_account() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let (status, made) = app
        .post(
            "/webhooks",
            &admin.key,
            json!({"url": "https://hooks.example.com/thinnest", "events": ["agent.created", "agent.created", "member.joined"], "description": "CRM"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("wh_"));
    assert_eq!(made["events"], json!(["agent.created", "member.joined"]));
    assert_eq!(made["enabled"], true);

    let (_, list) = app.get("/webhooks", &admin.key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let path = format!("/webhooks/{id}");
    let (status, changed) = app
        .call(
            Method::PATCH,
            &path,
            &admin.key,
            Some(json!({"enabled": false, "events": ["*"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["events"], json!(["*"]));
    assert_eq!(changed["url"], "https://hooks.example.com/thinnest");

    // Another account sees none of it.
    let other = app.account("other@example.com").await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        let got = app.call(method, &path, &other.key, Some(json!({}))).await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    }
    let odd = app.get("/webhooks/wh_nope", &admin.key).await;
    assert_error(&odd, StatusCode::NOT_FOUND, "not_found");

    let (status, _) = app.call(Method::DELETE, &path, &admin.key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&path, &admin.key).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, log) = app.get("/audit-log", &admin.key).await;
    let actions = crate::support::audit_actions(&log);
    assert_eq!(
        &actions[..3],
        ["webhook.deleted", "webhook.updated", "webhook.created"]
    );
}

#[tokio::test]
async fn unsafe_targets_and_bad_fields_are_refused_with_reasons() {
    let app = TestApp::with_flags(&["--webhook-endpoint-limit", "2"]).await;
    let admin = app.account("owner@example.com").await;
    let cases = [
        (
            json!({"url": "http://hooks.example.com/x", "events": ["*"]}),
            "url",
            "https",
        ),
        (
            json!({"url": "https://127.0.0.1/x", "events": ["*"]}),
            "url",
            "private",
        ),
        (
            json!({"url": "https://169.254.169.254/latest", "events": ["*"]}),
            "url",
            "metadata",
        ),
        (
            json!({"url": "https://[::1]/x", "events": ["*"]}),
            "url",
            "loopback",
        ),
        (
            json!({"url": "https://localhost/x", "events": ["*"]}),
            "url",
            "private",
        ),
        (
            json!({"url": "https://u:p@example.com/x", "events": ["*"]}),
            "url",
            "credentials",
        ),
        (
            json!({"url": "https://example.com/x", "events": []}),
            "events",
            "at least one",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["call.exploded"]}),
            "events",
            "not an event type",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["*", "agent.created"]}),
            "events",
            "every event",
        ),
        (
            json!({"url": "https://example.com/x", "events": ["*"], "secret": "x"}),
            "",
            "",
        ),
    ];
    for (body, field, words) in cases {
        let got = app.post("/webhooks", &admin.key, body.clone()).await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", got.1);
        if !field.is_empty() {
            let problem = got.1["fields"][field].as_str().unwrap_or_default();
            assert!(problem.contains(words), "{body}: {}", got.1);
        }
    }
    // At most the configured number of endpoints.
    for n in 0..2 {
        let url = format!("https://hooks{n}.example.com/x");
        let (status, _) = app
            .post(
                "/webhooks",
                &admin.key,
                json!({"url": url, "events": ["*"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let third = app
        .post(
            "/webhooks",
            &admin.key,
            json!({"url": "https://h.example.com/x", "events": ["*"]}),
        )
        .await;
    assert_error(&third, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn private_and_http_targets_only_where_allowed() {
    let app = TestApp::with_flags(&["--allow-private-webhook-targets"]).await;
    let admin = app.account("owner@example.com").await;
    let (status, made) = app
        .post(
            "/webhooks",
            &admin.key,
            json!({"url": "http://127.0.0.1:9000/hook", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
}
