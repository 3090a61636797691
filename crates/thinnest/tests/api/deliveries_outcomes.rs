//! What becomes of webhook deliveries: endpoints disabled by a 410 or by failing too long
//! (and Admins told), test events and redelivery with the attempt log, and every event
//! type's documented payload.

use crate::dashboard::{dashboard_key, signed_up};
use crate::deliveries::{
    WAIT, app_with, body_of, deliveries, delivery, endpoint, python_receiver, settled,
};
use crate::support::{Principal, assert_error};
use crate::team::{accept, invite};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_410_disables_at_once_and_failing_too_long_disables_and_tells_admins() {
    let Some(smtp) = crate::support::smtp::SmtpSink::start().await else {
        return;
    };
    let app = app_with(&[
        "--smtp-url",
        &smtp.url,
        "--webhook-retry-delays",
        "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
        "--webhook-disable-after",
        "1s",
    ])
    .await;
    let principal = app.account("boss@example.com").await;
    let key = principal.key.clone();
    let Some(receiver) = python_receiver(&app, &key).await else {
        return;
    };
    let gone = endpoint(
        &app,
        &key,
        &receiver.url("/gone?fail=1&status=410"),
        json!(["*"]),
    )
    .await;
    let broken = endpoint(&app, &key, &receiver.url("/broken?fail=1000"), json!(["*"])).await;
    app.agent(&principal, "Doomed").await;

    let deadline = tokio::time::Instant::now() + WAIT;
    let (gone_now, broken_now) = loop {
        let (_, g) = app.get(&format!("/webhooks/{gone}"), &key).await;
        let (_, b) = app.get(&format!("/webhooks/{broken}"), &key).await;
        if g["enabled"] == false && b["enabled"] == false {
            break (g, b);
        }
        assert!(tokio::time::Instant::now() < deadline, "{g} {b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        gone_now["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    assert!(
        broken_now["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("failed")
    );
    assert_eq!(
        receiver
            .received()
            .iter()
            .filter(|r| r["path"] == "/gone")
            .count(),
        1,
        "a 410 is not retried"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while smtp
        .messages()
        .iter()
        .filter(|m| m.contains("was disabled"))
        .count()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            smtp.messages()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mail = smtp.messages().concat();
    assert!(mail.contains("boss@example.com") && mail.contains(&broken));

    // A disabled endpoint gets no new events, and refuses tests until enabled again.
    let (status, body) = app
        .post(&format!("/webhooks/{broken}/test"), &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, enabled) = app
        .call(
            Method::PATCH,
            &format!("/webhooks/{gone}"),
            &key,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(enabled["disabled_reason"], Value::Null);

    // The delivery whose failure disabled `broken` had retries left: it waited, and
    // goes out, with its event id, once the endpoint is enabled (and fixed) again.
    let waiting = deliveries(&app, &key, &broken).await;
    assert_eq!(waiting[0]["status"], "pending", "{waiting:#?}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/webhooks/{broken}"),
            &key,
            Some(json!({"enabled": true, "url": receiver.url("/healed")})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = receiver
        .wait_until(WAIT, |got| got.iter().any(|r| r["path"] == "/healed"))
        .await;
    let first_id = |path: &str| {
        got.iter()
            .find(|r| r["path"] == path)
            .map(|r| r["event_id"].clone())
    };
    assert_eq!(first_id("/healed"), first_id("/broken"));
}

#[tokio::test]
async fn test_events_redelivery_and_the_attempt_log() {
    let app = app_with(&[]).await;
    let admin = app.account("owner@example.com").await;
    let Some(receiver) = python_receiver(&app, &admin.key).await else {
        return;
    };
    // Subscribed to agents only, yet the test event reaches it.
    let hook = endpoint(
        &app,
        &admin.key,
        &receiver.url("/t"),
        json!(["agent.created"]),
    )
    .await;
    let (status, queued) = app
        .post(&format!("/webhooks/{hook}/test"), &admin.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["event_type"], "webhook.test");
    let got = receiver.wait_for(1, WAIT).await;
    let event = body_of(&got[0]);
    assert_eq!(event["type"], "webhook.test");
    assert_eq!(event["data"]["endpoint_id"], hook.as_str());
    let id = queued["id"].as_str().unwrap();
    settled(&app, &admin.key, &hook, 1).await;

    let (status, again) = app
        .post(
            &format!("/webhooks/{hook}/deliveries/{id}/redeliver"),
            &admin.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1]["event_id"], got[0]["event_id"], "the same event id");
    assert_eq!(got[1]["body"], got[0]["body"], "the same body");
    settled(&app, &admin.key, &hook, 1).await;
    let detail = delivery(&app, &admin.key, &hook, id).await;
    assert_eq!(detail["attempt_log"].as_array().unwrap().len(), 2);

    // While an attempt is under way, a redelivery is refused rather than lost.
    let slow = endpoint(
        &app,
        &admin.key,
        &receiver.url("/slow?delay_ms=3000"),
        json!(["*"]),
    )
    .await;
    let (_, queued) = app
        .post(&format!("/webhooks/{slow}/test"), &admin.key, json!({}))
        .await;
    receiver
        .wait_until(WAIT, |got| got.iter().any(|r| r["path"] == "/slow"))
        .await;
    let busy = app
        .post(
            &format!(
                "/webhooks/{slow}/deliveries/{}/redeliver",
                queued["id"].as_str().unwrap()
            ),
            &admin.key,
            json!({}),
        )
        .await;
    assert_error(&busy, StatusCode::CONFLICT, "conflict");

    // Errors: unknown ids, another account's endpoint, weaker roles, no key.
    let other = app.account("other@example.com").await;
    for path in [
        format!("/webhooks/{hook}/deliveries"),
        format!("/webhooks/{hook}/deliveries/{id}"),
    ] {
        assert_error(
            &app.get(&path, &other.key).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    for path in [
        format!("/webhooks/{hook}/test"),
        format!("/webhooks/{hook}/deliveries/{id}/redeliver"),
    ] {
        assert_error(
            &app.post(&path, &other.key, json!({})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let missing =
        format!("/webhooks/{hook}/deliveries/whd_00000000000000000000000000000000/redeliver");
    assert_error(
        &app.post(&missing, &admin.key, json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get(&format!("/webhooks/{hook}/deliveries/nope"), &admin.key)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let bad_page = app
        .get(&format!("/webhooks/{hook}/deliveries?limit=0"), &admin.key)
        .await;
    assert_error(
        &bad_page,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    let editor = app.key_with_role(&admin, "editor").await;
    for (method, path) in [
        (Method::GET, format!("/webhooks/{hook}/deliveries")),
        (Method::GET, format!("/webhooks/{hook}/deliveries/{id}")),
        (Method::POST, format!("/webhooks/{hook}/test")),
        (
            Method::POST,
            format!("/webhooks/{hook}/deliveries/{id}/redeliver"),
        ),
    ] {
        let got = app.call(method.clone(), &path, &editor.key, None).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
        let anonymous = crate::support::send(app.request(method, &path)).await;
        assert_error(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test]
async fn each_event_type_is_delivered_with_its_documented_payload() {
    let app = app_with(&[]).await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "hooks", "admin").await;
    let Some(receiver) = python_receiver(&app, &key).await else {
        return;
    };
    let hook = endpoint(&app, &key, &receiver.url("/all"), json!(["*"])).await;
    let principal = Principal {
        account_id: String::new(),
        key_id: String::new(),
        key: key.clone(),
    };
    app.post(&format!("/webhooks/{hook}/test"), &key, json!({}))
        .await;
    let agent = app.agent(&principal, "Typed").await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/agents/{agent}"),
            &key,
            Some(json!({"name": "Retyped"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.call(Method::DELETE, &format!("/agents/{agent}"), &key, None)
        .await;
    let made = app.key_with_role(&principal, "viewer").await;
    app.call(
        Method::DELETE,
        &format!("/api-keys/{}", made.key_id),
        &key,
        None,
    )
    .await;
    let member = signed_up(&app, "dev@example.com").await;
    let token = invite(&app, &admin, "dev@example.com", "editor").await;
    accept(&member, &token).await;

    let by_type = |got: &[Value], kind: &str| -> Option<Value> {
        got.iter().map(body_of).find(|e| e["type"] == kind)
    };
    let got = receiver
        .wait_until(WAIT, |got| by_type(got, "member.joined").is_some())
        .await;
    let joined = by_type(&got, "member.joined").unwrap();
    let user_id = joined["data"]["user_id"].as_str().unwrap().to_owned();
    let team = admin.get("/app/settings/team").await;
    let removed = admin
        .post(
            &format!("/app/settings/team/members/{user_id}/remove"),
            &[("csrf_token", &team.csrf())],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    // Deliveries to one endpoint run side by side, so they may arrive in any order.
    let kinds = [
        "webhook.test",
        "agent.created",
        "agent.updated",
        "agent.deleted",
        "api_key.created",
        "api_key.revoked",
        "member.invited",
        "member.joined",
        "member.removed",
    ];
    let got = receiver
        .wait_until(WAIT, |got| kinds.iter().all(|k| by_type(got, k).is_some()))
        .await;

    let expect = |kind: &str| {
        let event = by_type(&got, kind).unwrap_or_else(|| panic!("no {kind} in {got:#?}"));
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        assert!(event["created_at"].as_str().unwrap().ends_with('Z'));
        assert!(event["account_id"].as_str().unwrap().starts_with("acct_"));
        let keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        event["data"].clone()
    };
    assert_eq!(expect("webhook.test")["endpoint_id"], hook.as_str());
    assert_eq!(expect("agent.created")["name"], "Typed");
    assert_eq!(expect("agent.updated")["name"], "Retyped");
    assert_eq!(
        expect("agent.deleted"),
        json!({"id": agent, "deleted": true})
    );
    let created = expect("api_key.created");
    assert_eq!(
        (created["id"].as_str(), created["role"].as_str()),
        (Some(made.key_id.as_str()), Some("viewer"))
    );
    assert!(created.get("key").is_none(), "never the secret: {created}");
    let revoked = expect("api_key.revoked");
    assert_eq!(revoked["status"], "revoked");
    let invited = expect("member.invited");
    assert_eq!(
        (invited["email"].as_str(), invited["role"].as_str()),
        (Some("dev@example.com"), Some("editor"))
    );
    assert!(invited["id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(joined["data"]["email"], "dev@example.com");
    assert_eq!(joined["data"]["role"], "editor");
    assert_eq!(
        expect("member.removed"),
        json!({"user_id": user_id, "email": "dev@example.com", "role": "editor"})
    );
    assert!(got.iter().all(|r| r["verified"] == true));
    // Every catalogue type was seen.
    let seen: std::collections::HashSet<String> = got
        .iter()
        .map(|r| body_of(r)["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), 9, "the nine types this test causes: {seen:?}");
}
