//! Settings > API keys: who made each key, and revoking a key with the keys it made.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::dashboard::{dashboard_key, signed_up};
use crate::support::TestApp;
use crate::support::browser::Browser;

/// The id in the page's revoke form for the key whose hint ends in `tail`.
fn revoke_path(body: &str, tail: &str) -> String {
    let row = body
        .split("<tr>")
        .find(|row| row.contains(&format!("<code>tai_…{tail}</code>")))
        .expect("the key's row");
    let end = row.find("/revoke\"").expect("a revoke form") + "/revoke".len();
    let start = row[..end]
        .rfind("/app/settings/api-keys/key_")
        .expect("the key's path");
    row[start..end].to_owned()
}

/// A signed-in owner, a key made on the keys page, and a key that key made.
async fn a_key_that_made_one(app: &TestApp) -> (Browser, String, Value) {
    let browser = signed_up(app, "owner@example.com").await;
    let parent = dashboard_key(&browser, "deploy", "editor").await;
    let (status, child) = app
        .post("/api-keys", &parent, json!({"name": "child"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{child}");
    (browser, parent, child)
}

#[tokio::test]
async fn the_keys_page_names_the_maker_and_revokes_what_a_key_made_when_asked() {
    let app = TestApp::spawn().await;
    let (browser, parent, child) = a_key_that_made_one(&app).await;
    let child_key = child["key"].as_str().unwrap();
    let (_, grandchild) = app
        .post("/api-keys", child_key, json!({"name": "grandchild"}))
        .await;

    let page = browser.get("/app/settings/api-keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("with the key deploy (tai_…"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("also the 2 keys it made"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("also the 1 key it made"),
        "{}",
        page.body
    );

    let path = revoke_path(&page.body, &parent[parent.len() - 4..]);
    let csrf = page.csrf();
    let done = browser
        .post(&path, &[("csrf_token", &csrf), ("cascade", "on")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    for key in [
        parent.as_str(),
        child_key,
        grandchild["key"].as_str().unwrap(),
    ] {
        assert_eq!(app.get("/agents", key).await.0, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn revoking_without_the_box_ticked_keeps_what_the_key_made() {
    let app = TestApp::spawn().await;
    let (browser, parent, child) = a_key_that_made_one(&app).await;
    let page = browser.get("/app/settings/api-keys").await;
    let path = revoke_path(&page.body, &parent[parent.len() - 4..]);
    let done = browser.post(&path, &[("csrf_token", &page.csrf())]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/agents", &parent).await.0,
        StatusCode::UNAUTHORIZED
    );
    let child_key = child["key"].as_str().unwrap();
    assert_eq!(app.get("/agents", child_key).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_person_demoted_from_admin_no_longer_reaches_the_admin_keys_they_made() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "owner@example.com").await;
    let admin_key = dashboard_key(&browser, "ops", "admin").await;
    let editor_key = dashboard_key(&browser, "ci", "editor").await;
    // Another Admin demotes them (as the team page would).
    sqlx::query("UPDATE memberships SET role = 'editor'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let page = browser.get("/app/settings/api-keys").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains(&format!("tai_…{}", &editor_key[editor_key.len() - 4..]))
    );
    let hidden = format!("tai_…{}", &admin_key[admin_key.len() - 4..]);
    assert!(!page.body.contains(&hidden), "{}", page.body);
}
