//! Which client a request is counted against: IPv4 peers on a dual-stack listener,
//! and forwarded chains that a client tries to write itself into.

use std::net::IpAddr;

use reqwest::{Method, StatusCode};

use crate::support::{TestApp, assert_error, send};

/// A client of `app` that connects from `local` (any 127.0.0.0/8 address) over IPv4.
fn client_from(app: &TestApp, local: &str) -> (reqwest::Client, String) {
    let ca = std::fs::read(app.data_dir.path().join("tls/ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
        .local_address(local.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    (
        client,
        format!("https://127.0.0.1:{}", app.https_addr.port()),
    )
}

async fn bad_key_from(app: &TestApp, local: &str, forwarded: Option<&str>) -> StatusCode {
    let (client, base) = client_from(app, local);
    let mut request = client
        .request(Method::GET, format!("{base}/agents"))
        .bearer_auth("tai_guess");
    if let Some(chain) = forwarded {
        request = request.header("x-forwarded-for", chain);
    }
    send(request).await.0
}

#[tokio::test]
async fn ipv4_clients_on_a_dual_stack_listener_are_not_one_bucket() {
    let app = TestApp::with_flags(&["--listen", "[::]:0", "--auth-failure-limit", "3"]).await;
    for _ in 0..3 {
        assert_eq!(
            bad_key_from(&app, "127.0.0.2", None).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        bad_key_from(&app, "127.0.0.2", None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the guesser is slowed"
    );
    assert_eq!(
        bad_key_from(&app, "127.0.0.3", None).await,
        StatusCode::UNAUTHORIZED,
        "another IPv4 client is not"
    );
}

#[tokio::test]
async fn an_ipv4_trusted_proxy_is_recognised_on_a_dual_stack_listener() {
    let app = TestApp::with_flags(&[
        "--listen",
        "[::]:0",
        "--trusted-proxy",
        "127.0.0.1/32",
        "--auth-failure-limit",
        "3",
    ])
    .await;
    for _ in 0..3 {
        bad_key_from(&app, "127.0.0.1", Some("198.51.100.7")).await;
    }
    let guesser = bad_key_from(&app, "127.0.0.1", Some("198.51.100.7")).await;
    assert_eq!(guesser, StatusCode::TOO_MANY_REQUESTS);
    let other = bad_key_from(&app, "127.0.0.1", Some("198.51.100.8")).await;
    assert_eq!(other, StatusCode::UNAUTHORIZED, "the proxy's other clients");
}

#[tokio::test]
async fn a_client_cannot_choose_its_address_past_a_forwarded_entry_with_a_port() {
    let app = TestApp::with_flags(&[
        "--trusted-proxy",
        "127.0.0.1/32",
        "--auth-failure-limit",
        "3",
    ])
    .await;
    let a = app.account("a@example.com").await;
    // The proxy writes ports; the client writes a new address of its choice each time.
    for (i, hop) in ["198.51.100.9:5555", "[2001:db8::9]:443", "unknown"]
        .into_iter()
        .enumerate()
    {
        for n in 0..4 {
            let chain = format!("203.0.113.{}, {hop}", i * 10 + n);
            let got = send(
                app.request(Method::GET, "/agents")
                    .bearer_auth("tai_guess")
                    .header("x-forwarded-for", chain),
            )
            .await;
            let expected = if n < 3 {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            assert_eq!(got.0, expected, "{hop}, attempt {n}: {}", got.1);
        }
    }
    // A well-formed chain for someone else still gets through.
    let got = send(
        app.request(Method::GET, "/agents")
            .bearer_auth(&a.key)
            .header("x-forwarded-for", "192.0.2.44:80"),
    )
    .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let refused = send(
        app.request(Method::GET, "/agents")
            .bearer_auth(&a.key)
            .header("x-forwarded-for", "192.0.2.1, 198.51.100.9:1"),
    )
    .await;
    assert_error(
        &refused,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_exceeded",
    );
}
