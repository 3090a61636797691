//! Webhook deliveries: signed, verified by receivers written as users write them,
//! retried on schedule, durable across a crash, and sent once across instances.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::support::receiver::{Kind, Receiver};

pub(crate) const WAIT: Duration = Duration::from_secs(20);

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

pub(crate) async fn signing_secret(app: &TestApp, key: &str) -> String {
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

pub(crate) async fn deliveries(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/webhooks/{endpoint}/deliveries"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().expect("data").clone()
}

pub(crate) async fn delivery(app: &TestApp, key: &str, endpoint: &str, id: &str) -> Value {
    let (status, body) = app
        .get(&format!("/webhooks/{endpoint}/deliveries/{id}"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Waits until every delivery of the endpoint has settled (none pending).
pub(crate) async fn settled(app: &TestApp, key: &str, endpoint: &str, n: usize) -> Vec<Value> {
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

pub(crate) fn body_of(record: &Value) -> Value {
    serde_json::from_str(record["body"].as_str().expect("body")).expect("JSON body")
}

/// Waits for a first attempt of the endpoint's first delivery.
pub(crate) async fn settled_or_retrying(app: &TestApp, key: &str, endpoint: &str) -> Vec<Value> {
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
