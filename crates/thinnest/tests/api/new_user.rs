//! The README's path, as a new user walks it: the real binary, bootstrap, curl-like calls.

use std::time::Duration;

use reqwest::StatusCode;

use crate::support::process::{ServerProcess, bootstrap, ca_path, read_tree};
use crate::support::{TestDb, assert_error, assert_not_stored, client_trusting, read};

pub fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_new_user_serves_bootstraps_and_calls_the_api_over_https_only() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &db.url).await;

    // bootstrap works while the server runs, and prints the key alone on the last line.
    let out = bootstrap(dir.path(), &db.url, &["--email", "You@Example.com"]).await;
    let key = last_line(&out);
    assert!(key.starts_with("tai_") && !key.contains(' '), "{out}");

    let client = client_trusting(&std::fs::read(ca_path(dir.path())).unwrap());
    let https = format!("https://127.0.0.1:{}", server.https_port);
    let got = read(
        client
            .get(format!("{https}/agents"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK);
    assert!(got.1["data"].is_array());

    let missing = client.get(format!("{https}/agents")).send().await.unwrap();
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_error(
        &read(missing).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    let plain = client
        .get(format!("http://127.0.0.1:{}/agents", server.http_port))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_error(&read(plain).await, StatusCode::FORBIDDEN, "https_required");

    // A second bootstrap of the same email and account gives another key to the same account;
    // another account name makes a separate account.
    let same = last_line(&bootstrap(dir.path(), &db.url, &["--email", "you@example.com"]).await);
    let other = last_line(
        &bootstrap(
            dir.path(),
            &db.url,
            &[
                "--email",
                "you@example.com",
                "--account-name",
                "Side project",
            ],
        )
        .await,
    );
    let made = read(
        client
            .post(format!("{https}/agents"))
            .bearer_auth(&key)
            .json(&serde_json::json!({"name": "first"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = made.1["id"].as_str().unwrap().to_owned();
    let via_same = client
        .get(format!("{https}/agents/{id}"))
        .bearer_auth(&same)
        .send()
        .await
        .unwrap();
    assert_eq!(via_same.status(), StatusCode::OK);
    let via_other = client
        .get(format!("{https}/agents/{id}"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(via_other.status(), StatusCode::NOT_FOUND);

    assert_eq!(
        server.terminate().await,
        Some(0),
        "SIGTERM drains and exits 0"
    );

    let mut stored = read_tree(dir.path());
    stored.extend(db.dump().await);
    assert_not_stored(&stored, &[&key, &same, &other]);
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &db.url).await;
    let key = last_line(&bootstrap(dir.path(), &db.url, &["--email", "you@example.com"]).await);
    let client = client_trusting(&std::fs::read(ca_path(dir.path())).unwrap());

    // A request whose body arrives in two parts, with SIGTERM in between.
    let (tx, rx) = tokio::sync::mpsc::channel::<&'static str>(1);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|part| (Ok::<_, std::io::Error>(part), rx))
    });
    let request = client
        .post(format!("https://127.0.0.1:{}/agents", server.https_port))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let in_flight = tokio::spawn(request);
    tx.send("{\"name\": \"drain").await.unwrap();
    // Time for the connection and the request's head to reach the server, even when
    // the machine is busy.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.signal_terminate().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.send(" test\"}").await.unwrap();
    drop(tx);

    let (status, agent) = read(in_flight.await.unwrap().unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["name"], "drain test");
    assert_eq!(server.exit_code().await, Some(0));
}
