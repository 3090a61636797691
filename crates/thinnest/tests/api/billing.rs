//! `GET /billing` and `PATCH /billing`: Admins only, the account's own figures.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error, send};

#[tokio::test]
async fn admins_see_the_plan_this_months_usage_and_set_the_contact() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    for _ in 0..3 {
        assert_eq!(app.get("/agents", &admin.key).await.0, StatusCode::OK);
    }
    // Usage is written in batches every second.
    let mut billing = serde_json::Value::Null;
    for _ in 0..50 {
        let (status, body) = app.get("/billing", &admin.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        billing = body;
        if billing["usage"]["by_class"]["agent_crud"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(billing["plan"], "self_hosted");
    assert_eq!(billing["billing_email"], serde_json::Value::Null);
    assert_eq!(billing["usage"]["by_class"]["agent_crud"], 3, "{billing}");
    let start = billing["period"]["start"].as_str().unwrap();
    assert!(start.ends_with("-01T00:00:00.000Z"), "{start}");

    let (status, body) = app
        .call(
            Method::PATCH,
            "/billing",
            &admin.key,
            Some(json!({"billing_email": " Billing@Example.COM "})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["billing_email"], "billing@example.com");
    let (_, log) = app.get("/audit-log", &admin.key).await;
    assert_eq!(log["data"][0]["action"], "billing.updated", "{log}");

    // Each account sees its own.
    let other = app.account("other@example.com").await;
    let (_, theirs) = app.get("/billing", &other.key).await;
    assert_eq!(theirs["billing_email"], serde_json::Value::Null);
    assert_eq!(theirs["usage"]["requests"], 0, "{theirs}");

    let cleared = app
        .call(
            Method::PATCH,
            "/billing",
            &admin.key,
            Some(json!({"billing_email": null})),
        )
        .await;
    assert_eq!(cleared.1["billing_email"], serde_json::Value::Null);
}

#[tokio::test]
async fn billing_is_refused_without_a_key_to_editors_and_viewers_and_for_bad_input() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let anonymous = send(app.request(Method::GET, "/billing")).await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    for role in ["editor", "viewer"] {
        let member = app.key_with_role(&admin, role).await;
        let read = app.get("/billing", &member.key).await;
        assert_error(&read, StatusCode::FORBIDDEN, "forbidden");
        let write = app
            .call(
                Method::PATCH,
                "/billing",
                &member.key,
                Some(json!({"billing_email": "x@example.com"})),
            )
            .await;
        assert_error(&write, StatusCode::FORBIDDEN, "forbidden");
    }
    // An editor still creates agents.
    let editor = app.key_with_role(&admin, "editor").await;
    let (status, _) = app
        .post("/agents", &editor.key, json!({"name": "Support"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    for body in [
        json!({"billing_email": "not an address"}),
        json!({"billing_email": 42}),
        json!({"billing_email": "a@example.com", "plan": "enterprise"}),
    ] {
        let got = app
            .call(Method::PATCH, "/billing", &admin.key, Some(body))
            .await;
        assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    }
}
