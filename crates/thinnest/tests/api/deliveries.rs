//! Webhook deliveries: signed, verified by receivers written as users write them,
//! retried on schedule, durable across a crash, and sent once across instances.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::dashboard::{dashboard_key, signed_up};
use crate::support::receiver::{Kind, Receiver};
use crate::support::{Principal, TestApp, assert_error};
use crate::team::{accept, invite};

const WAIT: Duration = Duration::from_secs(20);

/// An app that may deliver to local http receivers, with more flags.
pub(crate) async fn app_with(flags: &[&str]) -> TestApp {
    let mut all = vec![
        "--allow-private-webhook-targets",
        "--limit-agent-crud=1000",
        "--limit-other=1000",
    ];
    all.extend_from_slice(flags);
    TestApp::with_flags(&all).await
}

async fn signing_secret(app: &TestApp, key: &str) -> String {
    let (status, body) = app.get("/webhooks/signing-secret", key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["secret"].as_str().expect("secret").to_owned()
}

/// A receiver with only Python's standard library, holding the account's secret; None
/// where python3 is missing (and peers are not required).
pub(crate) async fn python_receiver(app: &TestApp, key: &str) -> Option<Receiver> {
    Receiver::start(Kind::PythonStdlib, &signing_secret(app, key).await).await
}

pub(crate) async fn endpoint(app: &TestApp, key: &str, url: &str, events: Value) -> String {
    let (status, body) = app
        .post("/webhooks", key, json!({"url": url, "events": events}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

async fn deliveries(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().expect("data").clone()
}

async fn delivery(app: &TestApp, key: &str, endpoint: &str, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/webhooks/{endpoint}/deliveries/{id}"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits until every delivery of the endpoint has settled (none pending).
async fn settled(app: &TestApp, key: &str, endpoint: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = deliveries(app, key, endpoint).await;
        if list.len() >= n && list.iter().all(|d| d["status"] != "pending") {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn body_of(record: &Value) -> Value {
    serde_json::from_str(record["body"].as_str().expect("body")).expect("JSON body")
}

#[tokio::test]
async fn receivers_in_python_node_and_standard_webhooks_verify_the_same_delivery() {
    let app = app_with(&[]).await;
    let admin = app.account("owner@example.com").await;
    let secret = signing_secret(&app, &admin.key).await;
    let mut receivers = Vec::new();
    for kind in [Kind::PythonStdlib, Kind::Node, Kind::StandardWebhooks] {
        let Some(receiver) = Receiver::start(kind, &secret).await else {
            return;
        };
        endpoint(&app, &admin.key, &receiver.url("/in"), json!(["*"])).await;
        receivers.push(receiver);
    }
    let agent = app.agent(&admin, "Concierge").await;

    let mut bodies = Vec::new();
    for receiver in &receivers {
        let got = receiver.wait_for(1, WAIT).await;
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0]["verified"], true, "{got:#?}");
        bodies.push(got[0]["body"].as_str().unwrap().to_owned());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:#?}");
    let event = body_of(&receivers[0].received()[0]);
    assert_eq!(event["type"], "agent.created");
    assert_eq!(event["data"]["id"], agent.as_str());
    assert_eq!(event["account_id"], admin.account_id.as_str());
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    let first = &receivers[0].received()[0];
    assert_eq!(first["type"], "agent.created");
    assert!(first["delivery"].as_str().unwrap().starts_with("whd_"));
    assert!(
        first["user_agent"]
            .as_str()
            .unwrap()
            .starts_with("thinnest-webhooks/")
    );
    assert_eq!(receivers[2].received()[0]["webhook_id"], event["id"]);

    // A receiver holding a wrong secret refuses; so does a tampered timestamp's check.
    let Some(wrong) = Receiver::start(
        Kind::StandardWebhooks,
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    )
    .await
    else {
        return;
    };
    let hook = endpoint(
        &app,
        &admin.key,
        &wrong.url("/wrong"),
        json!(["agent.deleted"]),
    )
    .await;
    app.call(
        Method::DELETE,
        &format!("/agents/{agent}"),
        &admin.key,
        None,
    )
    .await;
    let got = wrong.wait_for(1, WAIT).await;
    assert_eq!(got[0]["verified"], false);
    let list = settled_or_retrying(&app, &admin.key, &hook).await;
    assert_eq!(
        list[0]["last_status"], 400,
        "the refusal is logged: {list:#?}"
    );
    assert_eq!(list[0]["status"], "pending", "and retried later");
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_the_standard_header() {
    let app = app_with(&[]).await;
    let admin = app.account("owner@example.com").await;
    let old = signing_secret(&app, &admin.key).await;
    let (status, rotated) = app
        .post(
            "/webhooks/signing-secret/rotate",
            &admin.key,
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap();
    let (Some(with_old), Some(with_new), Some(hex_old), Some(hex_new)) = (
        Receiver::start(Kind::StandardWebhooks, &old).await,
        Receiver::start(Kind::StandardWebhooks, new).await,
        Receiver::start(Kind::PythonStdlib, &old).await,
        Receiver::start(Kind::PythonStdlib, new).await,
    ) else {
        return;
    };
    for receiver in [&with_old, &with_new, &hex_old, &hex_new] {
        endpoint(&app, &admin.key, &receiver.url("/in"), json!(["*"])).await;
    }
    app.agent(&admin, "Rotated").await;
    assert_eq!(with_old.wait_for(1, WAIT).await[0]["verified"], true);
    assert_eq!(with_new.wait_for(1, WAIT).await[0]["verified"], true);
    // The page's hex header carries the current secret's signature only.
    assert_eq!(hex_new.wait_for(1, WAIT).await[0]["verified"], true);
    assert_eq!(hex_old.wait_for(1, WAIT).await[0]["verified"], false);
}

#[tokio::test]
async fn a_failing_receiver_sees_the_retry_schedule_and_retry_after() {
    let app = app_with(&["--webhook-retry-delays", "300ms,600ms,1200ms"]).await;
    let admin = app.account("owner@example.com").await;
    let Some(receiver) = python_receiver(&app, &admin.key).await else {
        return;
    };
    let flaky = endpoint(
        &app,
        &admin.key,
        &receiver.url("/flaky?fail=3"),
        json!(["agent.created"]),
    )
    .await;
    let down = endpoint(
        &app,
        &admin.key,
        &receiver.url("/down?fail=99&status=502"),
        json!(["agent.created"]),
    )
    .await;
    let busy = endpoint(
        &app,
        &admin.key,
        &receiver.url("/busy?fail=1&status=503&retry_after=2"),
        json!(["agent.created"]),
    )
    .await;
    app.agent(&admin, "Retried").await;

    let got = receiver
        .wait_until(WAIT, |got| {
            got.iter().filter(|r| r["path"] == "/flaky").count() == 4
                && got.iter().filter(|r| r["path"] == "/down").count() == 4
                && got.iter().filter(|r| r["path"] == "/busy").count() == 2
        })
        .await;
    let times = |path: &str| -> Vec<f64> {
        got.iter()
            .filter(|r| r["path"] == path)
            .map(|r| r["at"].as_f64().unwrap())
            .collect()
    };
    for path in ["/flaky", "/down"] {
        let at = times(path);
        let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        for (gap, planned) in gaps.iter().zip([0.3, 0.6, 1.2]) {
            assert!(*gap >= planned * 0.9 - 0.02, "{path}: gaps {gaps:?}");
        }
        assert!(gaps[2] > gaps[0], "{path}: back-off grows: {gaps:?}");
    }
    let busy_at = times("/busy");
    assert!(
        busy_at[1] - busy_at[0] >= 1.95,
        "Retry-After: 2 was honoured: {busy_at:?}"
    );
    // Every attempt carries the same event id.
    let ids: Vec<&Value> = got
        .iter()
        .filter(|r| r["path"] == "/flaky")
        .map(|r| &r["event_id"])
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]));

    let flaky_list = settled(&app, &admin.key, &flaky, 1).await;
    assert_eq!(flaky_list[0]["status"], "succeeded");
    assert_eq!(flaky_list[0]["attempts"], 4);
    let detail = delivery(
        &app,
        &admin.key,
        &flaky,
        flaky_list[0]["id"].as_str().unwrap(),
    )
    .await;
    let statuses: Vec<i64> = detail["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response_status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    let last = &detail["attempt_log"][3];
    assert_eq!(last["response_body"], "{\"ok\":true}");
    assert!(
        last["request_headers"]["x-thinnestai-signature"]
            .as_str()
            .unwrap()
            .starts_with("sha256=")
    );
    assert!(last["latency_ms"].as_i64().unwrap() >= 0);
    assert!(
        detail["request_body"]
            .as_str()
            .unwrap()
            .contains("agent.created")
    );

    let down_list = settled(&app, &admin.key, &down, 1).await;
    assert_eq!(down_list[0]["status"], "failed", "no attempts left");
    assert_eq!(down_list[0]["attempts"], 4);
    assert_eq!(down_list[0]["last_status"], 502);
    assert_eq!(
        settled(&app, &admin.key, &busy, 1).await[0]["status"],
        "succeeded"
    );
}

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
async fn retry_after_pauses_every_delivery_to_the_endpoint() {
    let app = app_with(&["--webhook-retry-delays", "300ms"]).await;
    let admin = app.account("owner@example.com").await;
    let Some(receiver) = python_receiver(&app, &admin.key).await else {
        return;
    };
    let hook = endpoint(
        &app,
        &admin.key,
        &receiver.url("/pause?fail=1&status=429&retry_after=2"),
        json!(["agent.created"]),
    )
    .await;
    app.agent(&admin, "First").await;
    settled_or_retrying(&app, &admin.key, &hook).await;
    app.agent(&admin, "Second").await;
    // Each event: a 429 with Retry-After: 2, then a success.
    let got = receiver.wait_for(4, WAIT).await;
    let at: Vec<f64> = got.iter().map(|r| r["at"].as_f64().unwrap()).collect();
    let first_event = &got[0]["event_id"];
    let second = got
        .iter()
        .position(|r| r["event_id"] != *first_event)
        .unwrap();
    assert!(
        at[second] - at[0] >= 1.95,
        "the second event waited for the pause the first one was asked for: {at:?}"
    );
    let retry = 1 + got[1..]
        .iter()
        .position(|r| r["event_id"] == *first_event)
        .unwrap();
    assert!(
        at[retry] - at[0] >= 1.95,
        "the longer of Retry-After and the 300 ms schedule: {at:?}"
    );
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

#[tokio::test]
async fn addresses_of_this_machine_are_refused_when_resolved_at_delivery() {
    // One instance that allows private targets registers a name that resolves to
    // loopback; a second, strict one (sharing the database and the key) delivers.
    let key = "--encryption-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let lax = TestApp::with_flags(&[
        "--allow-private-webhook-targets",
        "--webhook-concurrency",
        "0",
        key,
    ])
    .await;
    let admin = lax.account("owner@example.com").await;
    let hooks = [
        endpoint(&lax, &admin.key, "https://localhost:9/hook", json!(["*"])).await,
        endpoint(&lax, &admin.key, "https://127.0.0.1:9/hook", json!(["*"])).await,
        endpoint(&lax, &admin.key, "http://example.com/hook", json!(["*"])).await,
    ];
    let strict = TestApp::spawn_with(lax.db.shared(), &[key]).await;
    strict.agent(&admin, "Probe").await;
    for hook in &hooks {
        let list = settled_or_retrying(&strict, &admin.key, hook).await;
        let error = list[0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("refused"), "{hook}: {list:#?}");
        assert_eq!(list[0]["last_status"], Value::Null);
    }
}

/// Waits for a first attempt of the endpoint's first delivery.
async fn settled_or_retrying(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let list = deliveries(app, key, endpoint).await;
        if list
            .first()
            .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_instances_never_send_a_delivery_twice() {
    let key = "--encryption-key=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let one = app_with(&[key, "--webhook-endpoint-concurrency", "8"]).await;
    let two = one.second_instance().await;
    let admin = one.account("owner@example.com").await;
    let Some(receiver) = python_receiver(&one, &admin.key).await else {
        return;
    };
    endpoint(
        &one,
        &admin.key,
        &receiver.url("/once?delay_ms=20"),
        json!(["agent.created"]),
    )
    .await;
    const N: usize = 60;
    for i in 0..N {
        let app = if i % 2 == 0 { &one } else { &two };
        app.agent(&admin, &format!("agent {i}")).await;
    }
    let got = receiver.wait_for(N, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received().len().max(got.len());
    let mut counts: HashMap<String, usize> = HashMap::new();
    for record in receiver.received() {
        *counts
            .entry(record["event_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), N);
    assert_eq!(got, N, "each event once: {counts:?}");
}

#[tokio::test]
async fn kill_9_in_the_middle_of_deliveries_loses_nothing() {
    use crate::support::process::{ServerProcess, bootstrap, ca_path};
    let db = crate::support::TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("THINNEST_ALLOW_PRIVATE_WEBHOOK_TARGETS", "1"),
        ("THINNEST_WEBHOOK_ENDPOINT_CONCURRENCY", "1"),
        ("THINNEST_LIMIT_AGENT_CRUD", "1000"),
    ];
    let server = ServerProcess::start_with_env(dir.path(), &db.url, &env).await;
    let key = crate::new_user::last_line(
        &bootstrap(dir.path(), &db.url, &["--email", "you@example.com"]).await,
    );
    let client = crate::support::client_trusting(&std::fs::read(ca_path(dir.path())).unwrap());
    let call = |port: u16, path: &str, body: Value| {
        client
            .post(format!("https://127.0.0.1:{port}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    let secret = client
        .get(format!(
            "https://127.0.0.1:{}/webhooks/signing-secret",
            server.https_port
        ))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let Some(receiver) = Receiver::start(Kind::PythonStdlib, &secret).await else {
        return;
    };
    // One at a time, each held for 4 s (within the 10 s attempt timeout): even on a
    // loaded machine most deliveries are still queued at the crash.
    let url = receiver.url("/slow?delay_ms=4000");
    let made = call(
        server.https_port,
        "/webhooks",
        json!({"url": url, "events": ["agent.created"]}),
    );
    let made = made.await.unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let hook = made.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    const N: usize = 30;
    let mut agents = Vec::new();
    for i in 0..N {
        let response = call(
            server.https_port,
            "/agents",
            json!({"name": format!("a{i}")}),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        agents.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    receiver.wait_for(2, WAIT).await;
    server.kill().await;
    let before = receiver.received().len();
    assert!(
        before < N,
        "the crash came after the end: {:#?}",
        receiver.received()
    );

    let restarted = ServerProcess::start_with_env(dir.path(), &db.url, &env).await;
    // The rest may come quickly now.
    let fast = client
        .patch(format!(
            "https://127.0.0.1:{}/webhooks/{hook}",
            restarted.https_port
        ))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url("/fast")}))
        .send()
        .await
        .unwrap();
    assert_eq!(fast.status(), StatusCode::OK);
    let agent_of = |record: &Value| body_of(record)["data"]["id"].as_str().unwrap().to_owned();
    let got = receiver
        .wait_until(Duration::from_secs(90), |got| {
            let seen: std::collections::HashSet<String> = got.iter().map(agent_of).collect();
            agents.iter().all(|a| seen.contains(a))
        })
        .await;
    // At least once, each with its original event id however often it came.
    let mut ids: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
    for record in &got {
        assert_eq!(record["verified"], true);
        ids.entry(agent_of(record))
            .or_default()
            .insert(record["event_id"].as_str().unwrap().to_owned());
    }
    assert!(ids.values().all(|set| set.len() == 1), "{ids:?}");
}

#[tokio::test]
async fn the_webhooks_pages_are_for_admins_and_check_their_forms() {
    let app = app_with(&[]).await;
    let admin = signed_up(&app, "owner@example.com").await;
    let page = admin.get("/app/settings/webhooks").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("whsec_"), "the secret behind Reveal");
    let csrf = page.csrf();
    let bad = admin
        .post(
            "/app/settings/webhooks",
            &[
                ("csrf_token", &csrf),
                ("url", "ftp://x"),
                ("events", "agent.nope"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(bad.body.contains("must be an https:// URL"), "{}", bad.body);
    assert!(bad.body.contains("is not an event type"), "{}", bad.body);
    let forged = admin
        .post(
            "/app/settings/webhooks",
            &[
                ("csrf_token", "forged"),
                ("url", "https://example.com/x"),
                ("events", "*"),
                ("description", ""),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let made = admin
        .post(
            "/app/settings/webhooks",
            &[
                ("csrf_token", &csrf),
                ("url", "https://example.com/x"),
                ("events", "agent.created, agent.deleted"),
                ("description", "mine"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let start =
        made.body.find("/app/settings/webhooks/wh_").unwrap() + "/app/settings/webhooks/".len();
    let id: String = made.body[start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    assert_eq!(
        admin
            .get(&format!("/app/settings/webhooks/{id}"))
            .await
            .status,
        StatusCode::OK
    );

    // Another workspace's Admin does not find it; a Viewer of this one may not look.
    let stranger = signed_up(&app, "stranger@example.com").await;
    assert_eq!(
        stranger
            .get(&format!("/app/settings/webhooks/{id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let viewer = signed_up(&app, "viewer@example.com").await;
    let token = invite(&app, &admin, "viewer@example.com", "viewer").await;
    accept(&viewer, &token).await;
    let home = viewer.get("/app").await;
    assert!(!home.body.contains("href=\"/app/settings/webhooks\""));
    assert_eq!(
        viewer.get("/app/settings/webhooks").await.status,
        StatusCode::FORBIDDEN
    );
    let test = viewer
        .post(
            &format!("/app/settings/webhooks/{id}/test"),
            &[("csrf_token", &home.csrf())],
        )
        .await;
    assert_eq!(test.status, StatusCode::FORBIDDEN);
    // Signed out: to the sign-in page.
    let anonymous = crate::support::browser::Browser::new(&app);
    let page = anonymous.get("/app/settings/webhooks").await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app/login")
    );
}
