use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Principal, TestApp, assert_error};

fn key_entry<'a>(usage: &'a Value, key_id: &str) -> Option<&'a Value> {
    usage["by_key"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id)
}

/// Reads `/usage` with `reader` until `key` shows `requests` requests (writes land
/// about once a second).
async fn usage_once(app: &TestApp, reader: &Principal, key: &str, requests: i64) -> Value {
    for _ in 0..50 {
        let (status, usage) = app.get("/usage", &reader.key).await;
        assert_eq!(status, StatusCode::OK, "{usage}");
        if key_entry(&usage, key).is_some_and(|k| k["requests"] == requests) {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("usage never showed {requests} requests for {key}");
}

#[tokio::test]
async fn usage_shows_the_exact_counts_of_a_scripted_workload() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    app.set_limit(&admin, "agent_crud", 4).await;

    let viewer = app.key_with_role(&admin, "viewer").await;
    let spare = app.key_with_role(&admin, "editor").await;
    let path = format!("/api-keys/{}", spare.key_id);
    let ok = |got: (StatusCode, Value), want: StatusCode| assert_eq!(got.0, want, "{}", got.1);
    ok(
        app.call(Method::DELETE, &path, &admin.key, None).await,
        StatusCode::OK,
    );
    ok(
        app.post("/agents", &admin.key, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    ok(app.get("/agents", &admin.key).await, StatusCode::OK);
    ok(app.get("/agents", &admin.key).await, StatusCode::OK);
    ok(app.get("/agents", &viewer.key).await, StatusCode::OK);
    ok(
        app.get("/agents", &admin.key).await,
        StatusCode::TOO_MANY_REQUESTS,
    );
    let plain = app
        .plain(Method::GET, "/agents")
        .bearer_auth(&admin.key)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
    ok(app.get("/usage", &viewer.key).await, StatusCode::FORBIDDEN);
    ok(
        app.get("/api-keys", &spare.key).await,
        StatusCode::UNAUTHORIZED,
    );

    // Another admin key of the account, made outside the API, reads the usage.
    let reader = app.account("a@example.com").await;
    assert_eq!(reader.account_id, admin.account_id);
    let usage = usage_once(&app, &reader, &admin.key_id, 7).await;

    // The key sent over plain HTTP did nothing: it is a security event, not usage.
    let a = key_entry(&usage, &admin.key_id).unwrap();
    assert_eq!(
        a["by_outcome"],
        json!({"2xx": 5, "4xx": 1, "429": 1}),
        "{a}"
    );
    assert_eq!(a["last_client_ip"], "127.0.0.1");
    assert!(a["last_used_at"].is_string());
    assert_eq!(a["series"].as_array().unwrap().len(), 1, "one hour");
    let v = key_entry(&usage, &viewer.key_id).unwrap();
    assert_eq!(v["by_outcome"], json!({"2xx": 1, "403": 1}));
    // A revoked key's attempt is a security event of the key, not the account's usage.
    assert!(key_entry(&usage, &spare.key_id).is_none(), "{usage}");
    let mut kind = Value::Null;
    for _ in 0..50 {
        let (_, spare_info) = app
            .get(&format!("/api-keys/{}", spare.key_id), &reader.key)
            .await;
        kind = spare_info["security_events"][0]["kind"].clone();
        if !kind.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kind, "revoked_key_used");

    let class = |name: &str| {
        let classes = usage["by_class"].as_array().unwrap();
        classes
            .iter()
            .find(|c| c["class"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        class("agent_crud")["by_outcome"],
        json!({"2xx": 3, "4xx": 1, "429": 1})
    );
    let read_so_far =
        key_entry(&usage, &reader.key_id).map_or(0, |r| r["requests"].as_i64().unwrap());
    assert_eq!(
        usage["totals"]["requests"].as_i64().unwrap() - read_so_far,
        9
    );

    let (status, daily) = app.get("/usage?granularity=day", &reader.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(daily["granularity"], "day");
    assert!(
        daily["by_class"][0]["series"][0]["start"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00.000Z")
    );

    // And the key list shows the last use too.
    let (_, keys) = app
        .get(&format!("/api-keys/{}", admin.key_id), &reader.key)
        .await;
    assert!(keys["last_used_at"].is_string());
}

#[tokio::test]
async fn usage_counts_are_written_on_graceful_shutdown() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    for _ in 0..5 {
        assert_eq!(app.get("/agents", &admin.key).await.0, StatusCode::OK);
    }
    let store = app.store.clone();
    let _db = app.stop().await;
    let rows = store.usage(&admin.account_id, 0, i64::MAX).await.unwrap();
    let counted: i64 = rows
        .iter()
        .filter(|r| r.outcome == "2xx")
        .map(|r| r.count)
        .sum();
    assert_eq!(counted, 5);
}

#[tokio::test]
async fn usage_is_for_admins_of_the_account_and_checks_its_input() {
    let app = TestApp::with_flags(&[]).await;
    let a = app.account("a@example.com").await;
    let b = app.account("b@example.com").await;
    assert_eq!(app.get("/agents", &a.key).await.0, StatusCode::OK);
    for role in ["editor", "viewer"] {
        let weaker = app.key_with_role(&a, role).await;
        assert_error(
            &app.get("/usage", &weaker.key).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let (_, theirs) = app.get("/usage", &b.key).await;
    assert!(
        key_entry(&theirs, &a.key_id).is_none(),
        "another account's usage is not shown"
    );

    for (query, field) in [
        ("from=yesterday", "from"),
        ("to=soon", "to"),
        ("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
    ] {
        let got = app.get(&format!("/usage?{query}"), &a.key).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
        assert!(got.1["fields"][field].is_string(), "{query}: {}", got.1);
    }
    let got = app.get("/usage?granularity=week", &a.key).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
}
