//! Webhook deliveries that hold: no delivery to this machine's addresses, none sent twice
//! by two instances, none lost to `kill -9`; and the webhooks pages.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dashboard::signed_up;
use crate::deliveries::{WAIT, app_with, body_of, endpoint, python_receiver, settled_or_retrying};
use crate::support::TestApp;
use crate::support::receiver::{Kind, Receiver};
use crate::team::{accept, invite};

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
