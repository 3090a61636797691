//! A signed-in account over time: the security page, the audit log of sign-ins, names
//! that cannot inject script, sign-up links, emailed links' host, and purging.

use reqwest::StatusCode;

use crate::dashboard::{PASSWORD, dashboard_key, sign_in, signed_up};
use crate::support::TestApp;
use crate::support::browser::Browser;

#[tokio::test]
async fn the_security_page_signs_out_other_sessions_and_changes_the_password() {
    let app = TestApp::spawn().await;
    let first = signed_up(&app, "p@example.com").await;
    let second = Browser::new(&app);
    assert_eq!(
        sign_in(&second, "p@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let page = first.get("/app/settings/security").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body.matches("<tr><td>").count(),
        2,
        "two sessions listed"
    );

    let csrf = page.csrf();
    let out = first
        .post(
            "/app/settings/security/sign-out-others",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        second.get("/app").await.status,
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
    assert_eq!(
        first.get("/app").await.status,
        StatusCode::OK,
        "this one lives"
    );

    let change = |current: &'static str, new: &'static str| {
        let (first, csrf) = (&first, csrf.clone());
        async move {
            let form = [
                ("csrf_token", csrf.as_str()),
                ("current_password", current),
                ("password", new),
            ];
            first.post("/app/settings/security/password", &form).await
        }
    };
    assert_eq!(
        change("wrong-current-pw", "fresh-new-pass-1").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        change(PASSWORD, "12345678").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        change(PASSWORD, "fresh-new-pass-1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        sign_in(&Browser::new(&app), "p@example.com", "fresh-new-pass-1")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn sign_ins_and_password_changes_are_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "a@example.com").await;
    let key = dashboard_key(&browser, "audit", "admin").await;
    assert_eq!(
        sign_in(&Browser::new(&app), "a@example.com", "wrong-password-1")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&Browser::new(&app), "a@example.com", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );

    let (status, log) = app.get("/audit-log", &key).await;
    assert_eq!(status, StatusCode::OK);
    let actions = crate::support::audit_actions(&log);
    assert_eq!(
        actions[..3],
        ["user.signed_in", "user.sign_in_failed", "api_key.created"],
        "{log}"
    );
    assert_eq!(log["data"][1]["actor"]["type"], "anonymous");
    assert_eq!(log["data"][0]["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn names_people_choose_cannot_inject_script_into_pages() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "x@example.com").await;
    let keys = browser.get("/app/settings/api-keys").await;
    let evil = "x'); alert(1); ('<script>alert(2)</script>";
    let made = browser
        .post(
            "/app/settings/api-keys",
            &[
                ("csrf_token", &keys.csrf()),
                ("name", evil),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK);
    for page in [made, browser.get("/app/settings/api-keys").await] {
        assert!(!page.body.contains("<script>alert"), "markup injected");
        // No event attribute at all: chosen text can only ever be data.
        for handler in ["onsubmit=", "onclick=", "onload=", "onerror="] {
            assert!(!page.body.contains(handler), "{handler} in the page");
        }
        assert!(
            page.body.contains("&#60;script&#62;alert(2)"),
            "shown escaped: {}",
            page.body
        );
    }
}

#[tokio::test]
async fn a_sign_up_link_needs_the_password_chosen_with_it() {
    let app = TestApp::spawn().await;
    // Someone signs up with another person's address and a password of their own.
    let squatter = Browser::new(&app);
    squatter
        .post(
            "/app/signup",
            &[
                ("email", "owner@example.com"),
                ("password", "squatter-pass-1"),
            ],
        )
        .await;
    let squatters_link = app.emailed_token("owner@example.com").await;
    // The owner, who reads the inbox, cannot be tricked into the squatter's password:
    // confirming needs the password chosen with that very link.
    let owner = Browser::new(&app);
    let refused = owner
        .post(
            "/app/verify-email",
            &[("token", &squatters_link), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // The owner signs up too and confirms with their own password; the squatter's
    // password never works.
    let before = app.outbox().len();
    owner
        .post(
            "/app/signup",
            &[("email", "owner@example.com"), ("password", PASSWORD)],
        )
        .await;
    let link = app.token_sent_after("owner@example.com", before).await;
    assert_ne!(link, squatters_link);
    let page = owner
        .post(
            "/app/verify-email",
            &[("token", &link), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let squatted = sign_in(&Browser::new(&app), "owner@example.com", "squatter-pass-1").await;
    assert_eq!(squatted.status, StatusCode::UNAUTHORIZED);
    // Confirming ended every other link.
    let late = squatter
        .post(
            "/app/verify-email",
            &[("token", &squatters_link), ("password", "squatter-pass-1")],
        )
        .await;
    assert_eq!(late.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn emailed_links_point_at_this_server_whatever_host_a_request_names() {
    let app = TestApp::spawn().await;
    signed_up(&app, "h@example.com").await;
    let before = app.outbox().len();
    let page = Browser::new(&app)
        .post_with_host(
            "evil.example",
            "/app/forgot-password",
            &[("email", "h@example.com")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    app.token_sent_after("h@example.com", before).await;
    let newest = app.outbox().pop().unwrap();
    assert!(!newest.contains("evil.example"), "{newest}");
    assert!(
        newest.contains(&format!("{}/app/reset-password#token=", app.https)),
        "{newest}"
    );
}

#[tokio::test]
async fn ended_sessions_and_spent_links_are_purged() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "old@example.com").await;
    assert_eq!(browser.get("/app").await.status, StatusCode::OK);
    assert_eq!(app.db.count("sessions").await, 1);
    assert_eq!(
        app.db.count("email_tokens").await,
        0,
        "confirming ended every link"
    );

    app.db
        .execute("UPDATE sessions SET last_seen_at = last_seen_at - 1860000")
        .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let purged = app.store.purge_expired(now, 30 * 60_000).await.unwrap();
    assert_eq!(purged, 1);
    assert_eq!(app.db.count("sessions").await, 0);
}
