//! The dashboard's pages run only their own script and style sheet: a
//! Content-Security-Policy with a nonce per response, no inline handlers, no referrer,
//! no powerful browser features, a window of their own.

use reqwest::StatusCode;

use crate::dashboard::signed_up;
use crate::support::TestApp;
use crate::support::browser::{Browser, Page};

/// The nonce the page's policy allows, checked against every script and style tag.
fn nonce_of(page: &Page) -> String {
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let nonce = policy
        .split("script-src 'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a script nonce")
        .to_owned();
    assert!(
        policy.contains(&format!("style-src 'nonce-{nonce}'")),
        "{policy}"
    );
    for tag in ["<script", "<style"] {
        for found in page.body.split(tag).skip(1) {
            let attributes = found.split('>').next().unwrap_or_default();
            assert!(
                attributes.contains(&format!("nonce=\"{nonce}\"")),
                "{tag}{attributes}> without this response's nonce"
            );
        }
    }
    nonce
}

#[tokio::test]
async fn every_page_allows_only_its_own_script_and_style_by_a_fresh_nonce() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "owner@example.com").await;
    let mut nonces = Vec::new();
    for path in [
        "/app/login",
        "/app/signup",
        "/app/reset-password",
        "/app",
        "/app/settings/api-keys",
        "/app/settings/webhooks",
        "/app/settings/team",
        "/app/settings/security",
    ] {
        let page = if path == "/app/login" || path == "/app/signup" {
            Browser::new(&app).get(path).await
        } else {
            browser.get(path).await
        };
        assert_eq!(page.status, StatusCode::OK, "{path}");
        nonces.push(nonce_of(&page));
        for handler in [" onclick=", " onsubmit=", " onload=", " style="] {
            assert!(!page.body.contains(handler), "{path} has{handler}");
        }
        let header = |name: &str| page.headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(
            header("cross-origin-opener-policy"),
            "same-origin",
            "{path}"
        );
        assert!(header("permissions-policy").contains("camera=()"), "{path}");
    }
    let mut distinct = nonces.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), nonces.len(), "a new nonce every time");
}

#[tokio::test]
async fn api_answers_may_load_nothing_at_all() {
    let app = TestApp::spawn().await;
    let response = app
        .request(reqwest::Method::GET, "/agents")
        .send()
        .await
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert_eq!(policy, "default-src 'none'; frame-ancestors 'none'");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
}
