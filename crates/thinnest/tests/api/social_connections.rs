//! Signed-in users connecting and disconnecting sign-in providers, and the one way left
//! to sign in that cannot be disconnected.

use reqwest::StatusCode;
use serde_json::json;

use crate::dashboard::{PASSWORD, signed_up};
use crate::social::{app_with, sign_in_with, signed_in};
use crate::support::browser::{Browser, Page};

/// "Connect …" on the security page.
async fn connect(browser: &Browser, csrf: &str, provider: &str, password: &str) -> Page {
    let form = [
        ("csrf_token", csrf),
        ("provider", provider),
        ("password", password),
    ];
    browser.post("/app/settings/security/connect", &form).await
}

#[tokio::test]
async fn signed_in_users_connect_and_disconnect_providers() {
    let Some((idp, app)) = app_with(&["google", "github"]).await else {
        return;
    };
    let browser = signed_up(&app, "cy@example.com").await;
    let security = browser.get("/app/settings/security").await;
    assert!(
        security.body.contains("Connect Google"),
        "{}",
        security.body
    );
    let csrf = security.csrf();

    // Connecting needs the page's CSRF token, a session, and the password again.
    let forged = connect(&browser, "forged", "google", PASSWORD).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let anonymous = connect(&Browser::new(&app), &csrf, "google", PASSWORD).await;
    assert_eq!(anonymous.location(), "/app/login");
    let wrong = connect(&browser, &csrf, "google", "not-my-password").await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.contains("The password is wrong"),
        "{}",
        wrong.body
    );
    let unknown = connect(&browser, &csrf, "myspace", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // The Google account's address need not match: the signed-in user vouches.
    idp.next_sign_in(json!({"sub": "cy-google", "email": "cy.other@example.com"}))
        .await;
    let before = app.outbox().len();
    let started = connect(&browser, &csrf, "google", PASSWORD).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let callback = browser
        .get_url(started.location())
        .await
        .location()
        .to_owned();
    let done = browser.get_url(&callback).await;
    assert_eq!(
        done.location(),
        "/app/settings/security?connected=google",
        "{}",
        done.body
    );
    let security = browser.get("/app/settings/security?connected=google").await;
    assert!(
        security.body.contains("Google is connected"),
        "{}",
        security.body
    );
    assert!(security.body.contains("cy.other@example.com"));
    signed_in(&sign_in_with(&Browser::new(&app), "google").await);
    // Cy is told by email.
    app.outbox_reaches(before + 1).await;
    let mail = app.outbox().last().unwrap().clone();
    assert!(mail.contains("To: cy@example.com"), "{mail}");
    assert!(mail.contains("Google sign-in was connected"), "{mail}");

    // Someone else cannot connect the same Google account to themselves.
    let dee = signed_up(&app, "dee@example.com").await;
    let csrf_dee = dee.get("/app/settings/security").await.csrf();
    idp.next_sign_in(json!({"sub": "cy-google", "email": "cy.other@example.com"}))
        .await;
    let started = connect(&dee, &csrf_dee, "google", PASSWORD).await;
    let callback = dee.get_url(started.location()).await.location().to_owned();
    assert_eq!(dee.get_url(&callback).await.status, StatusCode::CONFLICT);

    // Disconnecting: Dee cannot touch Cy's identity; Cy can.
    let id = security
        .body
        .split("/app/settings/security/identities/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let path = format!("/app/settings/security/identities/{id}/disconnect");
    let other = dee.post(&path, &[("csrf_token", &csrf_dee)]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let no_csrf = browser.post(&path, &[("csrf_token", "x")]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let bad_id = browser
        .post(
            "/app/settings/security/identities/nonsense/disconnect",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(bad_id.status, StatusCode::NOT_FOUND);
    let gone = browser.post(&path, &[("csrf_token", &csrf)]).await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.body);
    assert!(gone.body.contains("Disconnected"));
    assert_eq!(app.db.count("identities").await, 0);
    assert_eq!(
        app.db
            .count("audit_log WHERE action = 'user.identity_unlinked'")
            .await,
        1
    );
}

#[tokio::test]
async fn the_only_way_to_sign_in_cannot_be_disconnected() {
    let Some((idp, app)) = app_with(&["github"]).await else {
        return;
    };
    idp.next_sign_in(json!({"github_id": 5, "email": "solo@example.com"}))
        .await;
    let browser = Browser::new(&app);
    signed_in(&sign_in_with(&browser, "github").await);
    let security = browser.get("/app/settings/security").await;
    // No password to change: the page offers to set one by email instead.
    assert!(
        !security.body.contains("current_password"),
        "{}",
        security.body
    );
    assert!(
        security.body.contains("set a password"),
        "{}",
        security.body
    );
    let id = security
        .body
        .split("/app/settings/security/identities/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let page = browser
        .post(
            &format!("/app/settings/security/identities/{id}/disconnect"),
            &[("csrf_token", &security.csrf())],
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(page.body.contains("only way to sign in"));
    assert_eq!(app.db.count("identities").await, 1);

    // Without a password, connecting another provider needs a recent sign-in.
    let csrf = security.csrf();
    let fresh = connect(&browser, &csrf, "github", "").await;
    assert_eq!(fresh.status, StatusCode::SEE_OTHER, "{}", fresh.body);
    app.db
        .execute("UPDATE sessions SET expires_at = expires_at - 3600000")
        .await;
    let stale = connect(&browser, &csrf, "github", "").await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        stale.body.contains("Sign out and in again"),
        "{}",
        stale.body
    );
}
