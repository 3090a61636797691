use reqwest::{Method, StatusCode};

use crate::support::{TestApp, assert_error, read, send};

#[tokio::test]
async fn plain_http_api_calls_are_refused_and_a_key_sent_in_clear_is_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    // Sent twice: a client retrying in a loop is recorded once a minute, not per request.
    for _ in 0..2 {
        let got = send(app.plain(Method::GET, "/agents").bearer_auth(&admin.key)).await;
        assert_error(&got, StatusCode::FORBIDDEN, "https_required");
        assert!(got.1["message"].as_str().unwrap().contains("https://"));
    }

    for method in [Method::POST, Method::DELETE, Method::GET] {
        let got = send(app.plain(method, "/api-keys")).await;
        assert_error(&got, StatusCode::FORBIDDEN, "https_required");
    }

    let (_, keys) = app.get("/api-keys", &admin.key).await;
    let id = keys["data"][0]["id"].as_str().unwrap();
    let (_, detail) = app.get(&format!("/api-keys/{id}"), &admin.key).await;
    let events = detail["security_events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{detail}");
    assert_eq!(events[0]["kind"], "key_sent_over_plain_http");
    assert_eq!(events[0]["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn dashboard_pages_over_plain_http_redirect_to_https() {
    let app = TestApp::spawn().await;
    let response = app
        .plain(Method::GET, "/app/login?next=%2Fapp")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!(
            "https://127.0.0.1:{}/app/login?next=%2Fapp",
            app.https_addr.port()
        )
    );
    // A form post is not redirected: it would resend its body in clear.
    let post = send(app.plain(Method::POST, "/app/login")).await;
    assert_error(&post, StatusCode::FORBIDDEN, "https_required");
}

#[tokio::test]
async fn https_responses_carry_hsts() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/health").send().await.unwrap();
    let hsts = response.headers()["strict-transport-security"]
        .to_str()
        .unwrap();
    assert!(hsts.starts_with("max-age="), "{hsts}");
}

#[tokio::test]
async fn a_trusted_proxy_reporting_plain_http_is_refused_and_anyone_else_is_ignored() {
    let trusting = TestApp::with_flags(&["--trusted-proxy", "127.0.0.0/8"]).await;
    let admin = trusting.account("a@example.com").await;
    let forwarded = trusting
        .request(Method::GET, "/agents")
        .bearer_auth(&admin.key)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_error(
        &read(forwarded).await,
        StatusCode::FORBIDDEN,
        "https_required",
    );
    // Before any route: a path no route has is refused alike, with the headers every
    // answer carries.
    let unrouted = trusting
        .request(Method::GET, "/no/such/path")
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert!(unrouted.headers().contains_key("x-request-id"));
    assert!(unrouted.headers().contains_key("strict-transport-security"));
    assert_error(
        &read(unrouted).await,
        StatusCode::FORBIDDEN,
        "https_required",
    );
    let (_, keys) = trusting.get("/api-keys", &admin.key).await;
    let id = keys["data"][0]["id"].as_str().unwrap();
    let (_, detail) = trusting.get(&format!("/api-keys/{id}"), &admin.key).await;
    assert_eq!(
        detail["security_events"][0]["client_ip"], "203.0.113.7",
        "{detail}"
    );

    let untrusting = TestApp::spawn().await;
    let admin = untrusting.account("a@example.com").await;
    let ignored = untrusting
        .request(Method::GET, "/agents")
        .bearer_auth(&admin.key)
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap();
    assert_eq!(ignored.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_server_speaks_tls_1_2_and_1_3() {
    let app = TestApp::spawn().await;
    let ca = std::fs::read(app.data_dir.path().join("tls/ca.pem")).unwrap();
    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .tls_version_min(version)
            .tls_version_max(version)
            .build()
            .unwrap();
        let response = client
            .get(format!("{}/health", app.https))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version:?}");
    }
}
