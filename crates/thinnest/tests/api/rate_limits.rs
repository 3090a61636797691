use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, assert_error, read, redis_url, send};

/// Asserts the exact 429 of the contract and returns its `retry_after`.
async fn assert_rate_limited(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let header: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"error":"rate_limit_exceeded","message":"Too many requests. Please retry after {header} seconds.","retry_after":{header}}}"#
        )
    );
    assert!((1..=60).contains(&header), "{header}");
    header
}

#[tokio::test]
async fn the_61st_agent_request_of_a_minute_is_refused_and_only_that_budget_is_spent() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let a2 = app.key_with_role(&a, "editor").await;
    for i in 0..60 {
        // Two keys of one account share one budget.
        let key = if i % 2 == 0 { &a.key } else { &a2.key };
        let (status, body) = app
            .post("/agents", key, json!({"name": format!("agent {i}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "request {i}: {body}");
    }
    for key in [&a.key, &a2.key] {
        let refused = app
            .request(Method::POST, "/agents")
            .bearer_auth(key)
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_rate_limited(refused).await;
    }
    assert_eq!(
        app.get("/api-keys", &a.key).await.0,
        StatusCode::OK,
        "another class is untouched"
    );
    let b = app.account("b@example.com").await;
    assert_eq!(
        app.post("/agents", &b.key, json!({"name": "b"})).await.0,
        StatusCode::CREATED,
        "another account is untouched"
    );
}

#[tokio::test]
async fn every_limited_response_carries_the_rate_limit_headers() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let response = app
        .request(Method::GET, "/agents")
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h["x-ratelimit-limit"], "60");
    assert_eq!(h["x-ratelimit-remaining"], "59");
    let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    assert!(
        (now..=now + 61).contains(&reset),
        "reset {reset} is a time in the next minute"
    );
    assert_eq!(h["ratelimit-policy"], r#""agent_crud";q=60;w=60"#);
    let field = h["ratelimit"].to_str().unwrap();
    assert!(field.starts_with(r#""agent_crud";r=59;t="#), "{field}");

    let other = app
        .request(Method::GET, "/api-keys")
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    assert_eq!(other.headers()["ratelimit-policy"], r#""other";q=60;w=60"#);
    let public = app.request(Method::GET, "/health").send().await.unwrap();
    assert!(
        public.headers().get("x-ratelimit-limit").is_none(),
        "public routes are not limited"
    );
}

#[tokio::test]
async fn the_limit_holds_exactly_under_concurrency() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let requests = (0..200).map(|_| {
        app.request(Method::GET, "/agents")
            .bearer_auth(&a.key)
            .send()
    });
    let statuses: Vec<StatusCode> = join_all(requests)
        .await
        .into_iter()
        .map(|r| r.unwrap().status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, refused), (60, 140));
}

#[tokio::test]
async fn two_instances_on_one_redis_share_one_budget() {
    if redis_url().is_none() {
        eprintln!("needs THINNEST_TEST_REDIS_URL: .ci/run sets it");
        return;
    }
    let first = TestApp::spawn().await;
    let second = first.second_instance().await;
    let a = first.account("a@example.com").await;
    let requests = (0..100).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        app.request(Method::GET, "/agents")
            .bearer_auth(&a.key)
            .send()
    });
    let ok = join_all(requests)
        .await
        .into_iter()
        .filter(|r| r.as_ref().unwrap().status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 60, "60 accepted across both instances");
    second.stop().await;
}

#[tokio::test]
async fn after_waiting_retry_after_seconds_the_next_request_succeeds() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    // The operator lowers the account's limit while the server runs.
    let shown = app.set_limit(&a, "agent_crud", 2).await;
    assert!(
        shown.contains("agent_crud") && shown.contains("2/min (override)"),
        "{shown}"
    );
    for _ in 0..2 {
        assert_eq!(app.get("/agents", &a.key).await.0, StatusCode::OK);
    }
    let response = app
        .request(Method::GET, "/agents")
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    let wait = assert_rate_limited(response).await;
    // Refusals spend nothing: asking again does not push the time back.
    let again = app
        .request(Method::GET, "/agents")
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    assert!(assert_rate_limited(again).await <= wait);
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(app.get("/agents", &a.key).await.0, StatusCode::OK);
}

#[tokio::test]
async fn many_failed_authentications_from_one_address_get_429_before_any_lookup() {
    let app = TestApp::with_flags(&[
        "--auth-failure-limit",
        "5",
        "--trusted-proxy",
        "127.0.0.1/32",
    ])
    .await;
    let a = app.account("a@example.com").await;
    let from = |ip: &'static str, key: &str| {
        app.request(Method::GET, "/agents")
            .bearer_auth(key)
            .header("x-forwarded-for", ip)
    };
    let guesser = "203.0.113.5";
    let b = app.account("b@example.com").await;
    // `a`'s key is in the key cache (the guard and the budget are then decided
    // together); `b`'s has never been used (the guard comes before its lookup).
    assert_eq!(
        from("198.51.100.7", &a.key).send().await.unwrap().status(),
        StatusCode::OK
    );
    for _ in 0..5 {
        let got = send(from(guesser, "tai_guess")).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Now even a valid key is refused from that address: nothing is looked up.
    for key in [&a.key, &b.key] {
        assert_rate_limited(from(guesser, key).send().await.unwrap()).await;
    }
    assert_eq!(
        from("198.51.100.7", &a.key).send().await.unwrap().status(),
        StatusCode::OK,
        "other addresses are unaffected"
    );
}

#[tokio::test]
async fn limits_can_be_switched_off() {
    let app = TestApp::with_flags(&["--rate-limiting", "off", "--limit-agent-crud", "1"]).await;
    let a = app.account("a@example.com").await;
    for _ in 0..3 {
        let response = app
            .request(Method::GET, "/agents")
            .bearer_auth(&a.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-ratelimit-limit").is_none());
    }
}

#[tokio::test]
async fn an_unreachable_redis_leaves_the_server_serving_on_the_in_process_limiter() {
    let app =
        TestApp::with_flags(&["--redis-url", "redis://127.0.0.1:1", "--limit-other", "2"]).await;
    let a = app.account("a@example.com").await;
    let statuses: Vec<StatusCode> = join_all((0..3).map(|_| app.get("/api-keys", &a.key)))
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        2,
        "{statuses:?}"
    );
    let (status, health) = read(app.request(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["rate_limiter"], "in_process_redis_unreachable");
}

/// Each router declares the class its routes spend; this is the table as a client sees
/// it, in the `RateLimit-Policy` header of answers of every kind (2xx, 404, 422).
#[tokio::test]
async fn each_route_spends_the_budget_of_its_class() {
    let app = TestApp::spawn().await;
    let a = app.account("a@example.com").await;
    let no_agent = "agent_00000000000000000000000000000000";
    let table = [
        (Method::GET, "/agents".to_owned(), "agent_crud"),
        (Method::POST, "/agents".to_owned(), "agent_crud"),
        (Method::GET, format!("/agents/{no_agent}"), "agent_crud"),
        (
            Method::PUT,
            format!("/agents/{no_agent}/embed"),
            "agent_crud",
        ),
        (Method::GET, "/conversations".to_owned(), "conversation"),
        (Method::POST, "/conversations".to_owned(), "conversation"),
        (Method::POST, "/knowledge".to_owned(), "knowledge_upload"),
        (Method::GET, "/knowledge".to_owned(), "other"),
        (
            Method::DELETE,
            "/knowledge/kn_00000000000000000000000000000000".to_owned(),
            "other",
        ),
        (Method::GET, "/api-keys".to_owned(), "other"),
        (Method::GET, "/webhooks".to_owned(), "other"),
        (Method::GET, "/usage".to_owned(), "other"),
        (Method::GET, "/audit-log".to_owned(), "other"),
        (Method::GET, "/billing".to_owned(), "other"),
    ];
    for (method, path, class) in table {
        let response = app
            .request(method.clone(), &path)
            .bearer_auth(&a.key)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let policy = response
            .headers()
            .get("ratelimit-policy")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        assert!(
            policy
                .as_deref()
                .is_some_and(|p| p.starts_with(&format!("\"{class}\";"))),
            "{method} {path} answered {} with policy {policy:?}, not {class}",
            response.status()
        );
    }
}
