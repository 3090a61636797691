use reqwest::StatusCode;

use crate::support::{TestApp, assert_error, read};

#[tokio::test]
async fn a_request_without_credentials_is_401_with_www_authenticate_and_a_helpful_message() {
    let app = TestApp::spawn().await;
    let response = app
        .request(reqwest::Method::GET, "/agents")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"thinnest\""
    );
    // A bad key gets the RFC 6750 error code as well.
    let bad = app
        .request(reqwest::Method::GET, "/agents")
        .bearer_auth("tai_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bad.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"thinnest\", error=\"invalid_token\""
    );
    let got = read(response).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
}

#[tokio::test]
async fn a_malformed_header_is_told_the_expected_format() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    for header in [
        format!("Basic {}", admin.key),
        format!("Bearer  {}", admin.key),
        format!("Bearer{}", admin.key),
        admin.key.clone(),
    ] {
        let response = app
            .request(reqwest::Method::GET, "/agents")
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        let got = read(response).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(
            got.1["message"].as_str().unwrap().contains("Bearer <key>"),
            "{header}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let response = app
        .request(reqwest::Method::GET, "/agents")
        .header("authorization", format!("bEARER {}", admin.key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_mistyped_and_revoked_keys_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let spare = app.key_with_role(&admin, "viewer").await;
    let (_, info) = app.get("/api-keys", &admin.key).await;
    let spare_id = info["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "viewer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        reqwest::Method::DELETE,
        &format!("/api-keys/{spare_id}"),
        &admin.key,
        None,
    )
    .await;

    let unknown = thinnest::secrets::api_key::ApiKey::generate();
    let mut typo = admin.key.clone().into_bytes();
    typo[10] = if typo[10] == b'x' { b'y' } else { b'x' };
    let typo = String::from_utf8(typo).unwrap();

    let mut messages = Vec::new();
    for key in [
        unknown.expose(),
        typo.as_str(),
        spare.key.as_str(),
        "tai_short",
    ] {
        let got = app.get("/agents", key).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
        messages.push(got.1["message"].clone());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "answers differ: {messages:?}");
}

#[tokio::test]
async fn a_used_key_shows_when_it_was_last_used() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let (status, _) = app.get("/agents", &admin.key).await;
    assert_eq!(status, StatusCode::OK);
    // Use is recorded off the request path: poll briefly.
    for _ in 0..50 {
        let (_, keys) = app.get("/api-keys", &admin.key).await;
        if keys["data"][0]["last_used_at"].is_string() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("last_used_at was never set");
}
