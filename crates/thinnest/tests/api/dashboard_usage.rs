//! The usage page: requests by hour or day as a server-drawn chart, by kind and key,
//! with a key's 429s visible after it goes past its limit.

use reqwest::StatusCode;

use crate::dashboard::{dashboard_key, signed_up};
use crate::support::TestApp;
use crate::team::{accept, invite};

#[tokio::test]
async fn the_usage_page_shows_a_keys_429s_after_it_goes_past_its_limit() {
    let app = TestApp::with_flags(&["--limit-agent-crud", "3"]).await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "busy server", "editor").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(app.get("/agents", &key).await.0);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2
    );
    // Counts are written about once a second.
    let mut page = admin.get("/app/usage").await;
    for _ in 0..50 {
        if page.body.contains("5 API requests") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        page = admin.get("/app/usage").await;
    }
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("5 API requests"), "{}", page.body);
    // The chart: a rate-limited part of a bar, with its count, drawn on the server.
    assert!(page.body.contains("<rect class=\"s-429\""), "{}", page.body);
    assert!(page.body.contains(": 2 rate limited (429)</title>"));
    // By kind of request, in words, and by key, with a link to the key alone.
    assert!(
        page.body
            .contains("<td>Agents</td><td>3</td><td>0</td><td>0</td><td>2</td>"),
        "{}",
        page.body
    );
    let id = crate::team::id_after(&page, "key=");
    assert!(id.starts_with("key_"), "{id}");
    let alone = admin.get(&format!("/app/usage?range=24h&key={id}")).await;
    assert!(alone.body.contains("Usage: busy server"), "{}", alone.body);
    assert!(alone.body.contains("5 API requests"));
    for range in ["7d", "30d", "90d", "nonsense"] {
        let other = admin.get(&format!("/app/usage?range={range}")).await;
        assert_eq!(other.status, StatusCode::OK, "{range}");
    }

    // Usage is the Admins': an Editor is refused, and the navigation does not offer it.
    let editor = signed_up(&app, "editor@example.com").await;
    let token = invite(&app, &admin, "editor@example.com", "editor").await;
    accept(&editor, &token).await;
    let refused = editor.get("/app/usage").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let home = editor.get("/app").await;
    assert!(!home.body.contains("href=\"/app/usage\""));
}

#[tokio::test]
async fn the_test_chat_and_uploads_spend_the_budgets_the_api_keys_spend() {
    let app =
        TestApp::with_flags(&["--limit-conversation", "2", "--limit-knowledge-upload", "1"]).await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "server", "editor").await;
    let (_, agent) = app
        .post("/agents", &key, serde_json::json!({"name": "Helper"}))
        .await;
    let agent = agent["id"].as_str().unwrap().to_owned();
    // One conversation request through the API, one through the test chat: the
    // budget of two is spent, so the next test chat message waits.
    let (status, _) = app
        .post(
            "/conversations",
            &key,
            serde_json::json!({"agent_id": agent, "message": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let page = admin.get(&format!("/app/agents/{agent}")).await;
    let chat = |message: &'static str| {
        let csrf = page.csrf();
        let admin = &admin;
        let path = format!("/app/agents/{agent}/chat");
        async move {
            admin
                .post(
                    &path,
                    &[("csrf_token", csrf.as_str()), ("message", message)],
                )
                .await
        }
    };
    assert_eq!(chat("hello").await.status, StatusCode::SEE_OTHER);
    let refused = chat("again").await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("reached its limit"));
    assert!(refused.headers.contains_key("retry-after"));
    // Uploads likewise.
    let path = format!("/app/agents/{agent}/knowledge");
    let form = |title: &'static str| {
        [
            ("csrf_token", page.csrf()),
            ("title", title.to_owned()),
            ("text", "Open at 9.".to_owned()),
        ]
    };
    let first = form("Hours");
    let first: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        admin.post(&path, &first).await.status,
        StatusCode::SEE_OTHER
    );
    let second = form("More hours");
    let second: Vec<(&str, &str)> = second.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        admin.post(&path, &second).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}
