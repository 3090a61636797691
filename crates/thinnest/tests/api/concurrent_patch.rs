//! Two PATCHes of different fields of one object at the same moment: both changes
//! stay, round after round (a read-merge-write of every column loses one of them).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestApp;

const ROUNDS: usize = 25;
/// Budgets above the requests of `ROUNDS` rounds (three each).
const LIMITS: [&str; 4] = ["--limit-agent-crud", "1000", "--limit-other", "1000"];

/// `ROUNDS` times: sends `first(round)` and `second(round)` to `PATCH path` at once,
/// then reads the object back: every field of both must be as sent. Each answer
/// shows at least its own change.
async fn patch_pairs(
    app: &TestApp,
    key: &str,
    path: &str,
    first: impl Fn(usize) -> Value,
    second: impl Fn(usize) -> Value,
) {
    let has = |object: &Value, change: &Value| {
        change
            .as_object()
            .unwrap()
            .iter()
            .all(|(field, value)| &object[field] == value)
    };
    let mut lost = Vec::new();
    for round in 0..ROUNDS {
        let (a, b) = (first(round), second(round));
        let (got_a, got_b) = tokio::join!(
            app.call(Method::PATCH, path, key, Some(a.clone())),
            app.call(Method::PATCH, path, key, Some(b.clone())),
        );
        for ((status, body), change) in [(&got_a, &a), (&got_b, &b)] {
            assert_eq!(*status, StatusCode::OK, "round {round}: {body}");
            assert!(has(body, change), "round {round}: {change} not in {body}");
        }
        let (status, now) = app.get(path, key).await;
        assert_eq!(status, StatusCode::OK, "{now}");
        if !(has(&now, &a) && has(&now, &b)) {
            lost.push(format!("round {round}: sent {a} and {b}, read {now}"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {ROUNDS} rounds lost a change:\n{}",
        lost.len(),
        lost.join("\n")
    );
}

#[tokio::test]
async fn concurrent_patches_of_an_agent_keep_both_changes() {
    let app =
        TestApp::with_flags(&[&LIMITS[..], &["--allow-private-webhook-targets"]].concat()).await;
    let admin = app.account("a@example.com").await;
    // A subscriber, so that every change queues its agent.updated event.
    let (status, hook) = app
        .post(
            "/webhooks",
            &admin.key,
            json!({"url": "https://127.0.0.1:9/hook", "events": ["agent.updated"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let id = app.agent(&admin, "start").await;
    let voice = |round: usize| {
        json!({"provider": "builtin", "voice_id": format!("voice-{round}"),
               "language": "en-GB", "speed": if round % 2 == 0 { 1.5 } else { 0.75 }})
    };
    patch_pairs(
        &app,
        &admin.key,
        &format!("/agents/{id}"),
        |round| json!({"name": format!("name {round}"), "voice": voice(round)}),
        |round| {
            json!({"description": format!("description {round}"),
                   "instructions": format!("instructions {round}")})
        },
    )
    .await;

    // Each event shows the agent as its change left it: the later change of a
    // round, whichever it was, carries both.
    let payloads: Vec<(String,)> =
        sqlx::query_as("SELECT payload FROM webhook_events WHERE type = 'agent.updated'")
            .fetch_all(app.store.pool())
            .await
            .unwrap();
    assert_eq!(payloads.len(), 2 * ROUNDS);
    let events: Vec<Value> = payloads
        .iter()
        .map(|(p,)| serde_json::from_str::<Value>(p).unwrap()["data"].clone())
        .collect();
    for round in 0..ROUNDS {
        let (name, description) = (format!("name {round}"), format!("description {round}"));
        assert!(
            events
                .iter()
                .any(|e| e["name"] == name.as_str() && e["description"] == description.as_str()),
            "round {round}: no agent.updated event with both changes"
        );
    }
}

#[tokio::test]
async fn concurrent_patches_of_a_webhook_endpoint_keep_both_changes() {
    let app = TestApp::with_flags(&LIMITS).await;
    let admin = app.account("a@example.com").await;
    let (status, made) = app
        .post(
            "/webhooks",
            &admin.key,
            json!({"url": "https://hooks.example.com/start", "events": ["*"], "enabled": false}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap();
    let events = ["agent.created", "agent.updated", "agent.deleted"];
    patch_pairs(
        &app,
        &admin.key,
        &format!("/webhooks/{id}"),
        |round| {
            json!({"url": format!("https://hooks.example.com/{round}"),
                   "enabled": round % 2 == 1})
        },
        |round| {
            json!({"description": format!("description {round}"),
                   "events": [events[round % events.len()]]})
        },
    )
    .await;
    let (_, log) = app.get("/audit-log?limit=100", &admin.key).await;
    let updates = crate::support::audit_actions(&log)
        .into_iter()
        .filter(|a| *a == "webhook.updated")
        .count();
    assert_eq!(updates, 2 * ROUNDS);
}

/// What the server keeps about an endpoint's health: enabled, why disabled, failing
/// since, paused until.
type Health = (i64, Option<String>, Option<i64>, Option<i64>);

async fn health(app: &TestApp, id: &str) -> Health {
    sqlx::query_as(
        "SELECT enabled, disabled_reason, failing_since, paused_until FROM webhook_endpoints \
         WHERE id = $1",
    )
    .bind(id)
    .fetch_one(app.store.pool())
    .await
    .unwrap()
}

/// Leaves the endpoint as the dispatcher does when it disables one that kept failing,
/// its receiver having asked for a pause.
async fn disable_as_the_dispatcher_does(app: &TestApp, id: &str) {
    sqlx::query(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'gone', \
         failing_since = 1000, paused_until = 9000000000000 WHERE id = $1",
    )
    .bind(id)
    .execute(app.store.pool())
    .await
    .unwrap();
}

#[tokio::test]
async fn a_partial_patch_of_an_endpoint_keeps_the_rules_between_its_fields() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let (_, made) = app
        .post(
            "/webhooks",
            &admin.key,
            json!({"url": "https://hooks.example.com/a", "events": ["*"]}),
        )
        .await;
    let id = made["id"].as_str().unwrap();
    let path = format!("/webhooks/{id}");
    disable_as_the_dispatcher_does(&app, id).await;
    let patch = |body: Value| app.call(Method::PATCH, &path, &admin.key, Some(body));
    let disabled: Health = (
        0,
        Some("gone".to_owned()),
        Some(1000),
        Some(9_000_000_000_000),
    );

    // Fields the rules do not depend on change nothing else.
    let (status, got) = patch(json!({"description": "CRM", "events": ["agent.created"]})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        (&got["enabled"], &got["disabled_reason"]),
        (&json!(false), &json!("gone"))
    );
    assert_eq!(health(&app, id).await, disabled);
    let (status, got) = patch(json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(health(&app, id).await, disabled);
    let (status, got) = patch(json!({"url": "https://hooks.example.com/a"})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        health(&app, id).await,
        disabled,
        "the same URL is no new URL"
    );

    // A new URL ends the pause, and only that.
    let (status, got) = patch(json!({"url": "https://hooks.example.com/b"})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        health(&app, id).await,
        (0, Some("gone".to_owned()), Some(1000), None)
    );

    // Enabling it again clears the reason and the failing streak; the rest stays.
    let (status, got) = patch(json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(health(&app, id).await, (1, None, None, None));
    assert_eq!(got["url"], "https://hooks.example.com/b");
    assert_eq!(got["description"], "CRM");
    assert_eq!(got["events"], json!(["agent.created"]));

    // Enabling it again from a pause (no new URL) ends the pause too.
    disable_as_the_dispatcher_does(&app, id).await;
    let (status, got) = patch(json!({"enabled": true, "description": "back"})).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(health(&app, id).await, (1, None, None, None));
}
