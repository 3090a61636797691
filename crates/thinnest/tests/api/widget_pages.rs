//! The widget on real pages: customer pages in Chromium, the embed page of the
//! dashboard, and the origin rules as curl sees them.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestApp;
use crate::widget::{SHOP, conversations, setup};

#[tokio::test]
async fn customer_pages_in_chromium_get_the_widget_only_where_allowed() {
    use std::path::Path;
    let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    if !Path::new("/usr/bin/chromium").exists()
        || !flows.join("node_modules/playwright-core").exists()
    {
        crate::support::missing_peer("Chromium or playwright-core");
        return;
    }
    if !crate::support::installed("python3").await {
        return;
    }
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    // The customer's site: static pages served by Python on a free port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = tempfile::tempdir().unwrap();
    let _server = tokio::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(site.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    let mut agents = Vec::new();
    for verification in ["optional", "required"] {
        let agent = app.agent(&admin, "Shop helper").await;
        let embed = json!({"allowed_origins": [origin], "identity_verification": verification});
        let (status, _) = app
            .call(
                Method::PUT,
                &format!("/agents/{agent}/embed"),
                &admin.key,
                Some(embed),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        agents.push(agent);
    }
    let doc = json!({"agent_id": agents[0], "title": "Delivery", "text": "Parcels are delivered within 2 working days by bicycle courier."});
    assert_eq!(
        app.post("/knowledge", &admin.key, doc).await.0,
        StatusCode::CREATED
    );
    let page = |agent: &str, extra: &str| {
        format!(
            "<!doctype html><html lang=\"en\"><head><title>Example shop</title></head><body>\
             <h1>Example shop</h1><p>Welcome to our shop.</p>\
             <script src=\"{}/embed.js\" data-agent-id=\"{agent}\" {extra} async></script></body></html>",
            app.https
        )
    };
    std::fs::write(site.path().join("shop.html"), page(&agents[0], "")).unwrap();
    std::fs::write(
        site.path().join("members.html"),
        page(
            &agents[1],
            "data-user-id=\"user_42\" data-user-hash=\"0000\"",
        ),
    )
    .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    let out = tokio::process::Command::new("node")
        .arg(flows.join("widget.mjs"))
        .arg(format!("{origin}/shop.html"))
        .arg(format!("http://localhost:{port}/shop.html"))
        .arg(format!("{origin}/members.html"))
        .arg(&screenshots)
        .arg("How fast are parcels delivered?")
        .arg("2 working days")
        .output()
        .await
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && log.contains("widget flows passed"),
        "{log}"
    );
    // Five page views, two conversations: one per session that had a message.
    let widget_conversations = conversations(&app, &admin.key, &agents[0]).await;
    assert_eq!(widget_conversations.len(), 2, "{widget_conversations:?}");
    assert!(conversations(&app, &admin.key, &agents[1]).await.is_empty());
}

#[tokio::test]
async fn the_embed_page_shows_the_snippet_and_saves_origins_for_editors_only() {
    use crate::dashboard::{dashboard_key, signed_up};
    let app = TestApp::spawn().await;
    let admin = signed_up(&app, "owner@example.com").await;
    let key = dashboard_key(&admin, "setup", "admin").await;
    let (_, agent) = app
        .post("/agents", &key, json!({"name": "Concierge"}))
        .await;
    let agent = agent["id"].as_str().unwrap().to_owned();
    let path = format!("/app/agents/{agent}/settings/embed");
    let settings = admin.get(&format!("/app/agents/{agent}/settings")).await;
    assert!(settings.body.contains(&path), "{}", settings.body);
    // The page's old address still leads there.
    let moved = admin.get(&format!("/app/agents/{agent}/embed")).await;
    assert_eq!(
        (moved.status, moved.location()),
        (StatusCode::PERMANENT_REDIRECT, path.as_str())
    );
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body
            .contains(&format!("data-agent-id=&#34;{agent}&#34;"))
            || page.body.contains(&format!("data-agent-id=\"{agent}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("hmac.new(SIGNING_SECRET.encode()"));
    // The JWT sample keys by the decoded secret, not the string that keys hashes.
    assert!(page.body.contains("b64decode(SIGNING_SECRET.removeprefix("));
    let csrf = page.csrf();
    let bad = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                ("origins", "shop.example.com"),
                ("identity_verification", "required"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    // At the field, by line, with what was typed kept.
    assert!(
        bad.body
            .contains("Line 1: must look like https://example.com."),
        "{}",
        bad.body
    );
    assert!(
        bad.body.contains(">shop.example.com</textarea>"),
        "{}",
        bad.body
    );
    let saved = admin
        .post(
            &path,
            &[
                ("csrf_token", &csrf),
                (
                    "origins",
                    "https://Shop.example.com\n\nhttps://*.example.org",
                ),
                ("identity_verification", "required"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let (_, embed) = app.get(&format!("/agents/{agent}/embed"), &key).await;
    assert_eq!(
        embed,
        json!({"allowed_origins": ["https://*.example.org", "https://shop.example.com"], "identity_verification": "required"})
    );

    let viewer = signed_up(&app, "viewer@example.com").await;
    let token = crate::team::invite(&app, &admin, "viewer@example.com", "viewer").await;
    crate::team::accept(&viewer, &token).await;
    let seen = viewer.get(&path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains(">Save</button>"));
    let refused = viewer
        .post(
            &path,
            &[
                ("csrf_token", &seen.csrf()),
                ("origins", ""),
                ("identity_verification", "off"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let stranger = signed_up(&app, "stranger@example.com").await;
    assert_eq!(stranger.get(&path).await.status, StatusCode::NOT_FOUND);
}

/// `curl -i` with the CA the server generated; returns the status line and headers
/// (lowercased) and the body.
async fn curl(app: &TestApp, args: &[&str]) -> (String, String) {
    let ca = app.data_dir.path().join("tls/ca.pem");
    let out = tokio::process::Command::new("curl")
        .args(["-s", "-i", "--cacert"])
        .arg(&ca)
        .args(args)
        .output()
        .await
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_lowercase(), body.to_owned())
}

#[tokio::test]
async fn origin_rules_hold_for_curl() {
    if !crate::support::installed("curl").await {
        return;
    }
    let app = TestApp::spawn().await;
    let (_, agent, _) = setup(&app, "off").await;
    let url = format!("{}/widget/sessions?agent_id={agent}", app.https);
    let body = json!({"agent_id": agent}).to_string();
    let post = |origin: &'static str| {
        let (url, body) = (url.clone(), body.clone());
        let app = &app;
        async move {
            curl(
                app,
                &[
                    "-H",
                    &format!("Origin: {origin}"),
                    "-H",
                    "Content-Type: application/json",
                    "-d",
                    &body,
                    &url,
                ],
            )
            .await
        }
    };
    let (head, body_text) = post(SHOP).await;
    assert!(
        head.starts_with("http/2 201") || head.starts_with("http/1.1 201"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-origin: https://shop.example.com"),
        "{head}"
    );
    assert!(body_text.contains("session_token"));
    let (head, body_text) = post("https://evil.example").await;
    assert!(head.contains(" 403"), "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    assert!(body_text.contains("origin_not_allowed"));
    let (head, _) = curl(
        &app,
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://shop.example.com",
            "-H",
            "Access-Control-Request-Method: POST",
            &url,
        ],
    )
    .await;
    assert!(
        head.contains(" 204") && head.contains("access-control-allow-methods: get, post"),
        "{head}"
    );
    let (head, _) = curl(
        &app,
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://evil.example",
            "-H",
            "Access-Control-Request-Method: POST",
            &url,
        ],
    )
    .await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
}
