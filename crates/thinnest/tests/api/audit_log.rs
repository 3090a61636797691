use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error};

/// Every entry of the account, newest first, read page by page.
async fn all_entries(app: &TestApp, key: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut path = "/audit-log?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path, key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        entries.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/audit-log?limit=2&cursor={cursor}"),
            None => return entries,
        }
    }
}

#[tokio::test]
async fn key_changes_and_limit_changes_are_audited_with_actor_and_address() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let (_, made) = app
        .post(
            "/api-keys",
            &admin.key,
            json!({"name": "ci", "role": "editor"}),
        )
        .await;
    let made_id = made["id"].as_str().unwrap();
    let (_, rotated) = app
        .call(
            Method::POST,
            &format!("/api-keys/{made_id}/rotate"),
            &admin.key,
            None,
        )
        .await;
    let new_id = rotated["id"].as_str().unwrap();
    app.call(
        Method::DELETE,
        &format!("/api-keys/{new_id}"),
        &admin.key,
        None,
    )
    .await;
    app.set_limit(&admin, "agent_crud", 10).await;

    let entries = all_entries(&app, &admin.key).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "account.rate_limits_changed",
            "api_key.revoked",
            "api_key.rotated",
            "api_key.created",
            "api_key.created",
        ]
    );
    let by_key = json!({"type": "api_key", "id": admin.key_id});
    assert_eq!(entries[1]["actor"], by_key);
    assert_eq!(
        entries[1]["target"],
        json!({"type": "api_key", "id": new_id})
    );
    assert_eq!(entries[1]["client_ip"], "127.0.0.1");
    assert_eq!(entries[2]["target"]["id"], made_id);
    assert_eq!(entries[2]["detail"]["replaced_by"], new_id);
    assert_eq!(
        entries[3]["detail"],
        json!({"name": "ci", "role": "editor"})
    );
    assert_eq!(
        entries[0]["actor"],
        json!({"type": "operator", "id": "thinnest limits"})
    );
    assert_eq!(
        entries[0]["detail"],
        json!({"class": "agent_crud", "per_minute": 10})
    );
    assert_eq!(entries[4]["actor"]["id"], "thinnest bootstrap");
    assert!(entries[4]["client_ip"].is_null());

    let text = serde_json::to_string(&entries).unwrap();
    for secret in [
        &admin.key,
        made["key"].as_str().unwrap(),
        rotated["key"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "a secret in the audit log");
    }
}

#[tokio::test]
async fn the_audit_log_is_for_admins_of_the_account() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let b = app.account("b@example.com").await;
    for role in ["editor", "viewer"] {
        let weaker = app.key_with_role(&a, role).await;
        assert_error(
            &app.get("/audit-log", &weaker.key).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let theirs = all_entries(&app, &b.key).await;
    assert_eq!(theirs.len(), 1, "only b's own bootstrap: {theirs:?}");
    for query in [
        "limit=0",
        "limit=101",
        "cursor=key_00000000000000000000000000000000",
        "colour=red",
    ] {
        assert_error(
            &app.get(&format!("/audit-log?{query}"), &a.key).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        );
    }
}
