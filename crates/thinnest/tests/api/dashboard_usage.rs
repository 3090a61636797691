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
