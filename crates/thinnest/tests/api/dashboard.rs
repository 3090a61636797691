//! Dashboard sign-in over HTTPS, as a browser does it: forms, cookies, email links.

use reqwest::StatusCode;

use crate::support::TestApp;
use crate::support::browser::{Browser, Page};

pub const PASSWORD: &str = "velvet-harbor-52";

/// Signs a new person up and confirms the address; the browser ends signed in.
pub async fn signed_up(app: &TestApp, email: &str) -> Browser {
    signed_up_in(app, Browser::new(app), email).await
}

/// [`signed_up`] in a browser of the caller's choosing.
pub async fn signed_up_in(app: &TestApp, browser: Browser, email: &str) -> Browser {
    let before = app.outbox().len();
    let page = browser
        .post("/app/signup", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let token = app.token_sent_after(email, before).await;
    let page = browser
        .post(
            "/app/verify-email",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app"),
        "{}",
        page.body
    );
    browser
}

/// Generates a key on the API keys page and returns its secret, shown that once.
pub async fn dashboard_key(browser: &Browser, name: &str, role: &str) -> String {
    let keys = browser.get("/app/settings/api-keys").await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.body);
    let form = [
        ("csrf_token", keys.csrf()),
        ("name", name.to_owned()),
        ("role", role.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let made = browser.post("/app/settings/api-keys", &form).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert!(made.body.contains("will not be shown again"));
    let start = made.body.find("value=\"tai_").expect("the new key") + "value=\"".len();
    made.body[start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect()
}

pub async fn sign_in(browser: &Browser, email: &str, password: &str) -> Page {
    browser
        .post("/app/login", &[("email", email), ("password", password)])
        .await
}

#[tokio::test]
async fn a_new_user_signs_up_confirms_the_email_and_lands_in_a_workspace() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "new@example.com").await;
    let home = browser.get("/app").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("new&#39;s workspace (admin)"),
        "{}",
        home.body
    );
    assert!(home.body.contains("No agents yet"));
    // The link works once.
    let token = app.emailed_token("new@example.com").await;
    let again = Browser::new(&app)
        .post(
            "/app/verify-email",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sign_up_answers_the_same_whether_or_not_the_email_is_taken() {
    let app = TestApp::spawn().await;
    signed_up(&app, "taken@example.com").await;
    let sent_before = app.outbox().len();
    let fresh = Browser::new(&app)
        .post(
            "/app/signup",
            &[("email", "fresh@example.com"), ("password", PASSWORD)],
        )
        .await;
    let taken = Browser::new(&app)
        .post(
            "/app/signup",
            &[
                ("email", "taken@example.com"),
                ("password", "another-pass-99"),
            ],
        )
        .await;
    assert_eq!((fresh.status, fresh.text()), (taken.status, taken.text()));
    app.outbox_reaches(sent_before + 2).await;
    // The taken account's password did not change.
    let page = sign_in(&Browser::new(&app), "taken@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn weak_passwords_and_bad_addresses_are_refused_with_a_reason() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    for (email, password, reason) in [
        ("a@example.com", "short", "at least 8"),
        ("a@example.com", "password123", "most common"),
        ("not-an-email", PASSWORD, "valid email"),
    ] {
        let page = browser
            .post("/app/signup", &[("email", email), ("password", password)])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains(reason), "{reason}: {}", page.body);
    }
}

#[tokio::test]
async fn sign_in_sets_a_hardened_session_cookie_and_sign_out_ends_it() {
    let app = TestApp::spawn().await;
    signed_up(&app, "s@example.com").await;
    let browser = Browser::new(&app);
    let page = sign_in(&browser, "s@example.com", PASSWORD).await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app")
    );
    let cookie = page.headers["set-cookie"].to_str().unwrap();
    for part in [
        "__Host-thinnest_session=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let home = browser.get("/app").await;
    assert_eq!(home.status, StatusCode::OK);
    let out = browser
        .post("/app/logout", &[("csrf_token", &home.csrf())])
        .await;
    assert_eq!(
        (out.status, out.location()),
        (StatusCode::SEE_OTHER, "/app/login")
    );
    let after = browser.get("/app").await;
    assert_eq!(
        (after.status, after.location()),
        (StatusCode::SEE_OTHER, "/app/login")
    );
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_get_the_same_answer() {
    let app = TestApp::spawn().await;
    signed_up(&app, "k@example.com").await;
    let wrong = sign_in(&Browser::new(&app), "k@example.com", "not-the-password").await;
    let unknown = sign_in(
        &Browser::new(&app),
        "nobody@example.com",
        "not-the-password",
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        (wrong.status, wrong.text().replace("k@example.com", "")),
        (
            unknown.status,
            unknown.text().replace("nobody@example.com", "")
        )
    );
}

#[tokio::test]
async fn repeated_failures_back_off_and_parallel_guesses_all_count() {
    let app = TestApp::spawn().await;
    signed_up(&app, "t@example.com").await;
    let browser = Browser::new(&app);
    let guesses = (0..20).map(|i| {
        let guess = format!("guess-number-{i}");
        let browser = &browser;
        async move { sign_in(browser, "t@example.com", &guess).await.status }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(s))
    );
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        checked <= 10,
        "at most 10 guesses a minute reach the password check: {checked}"
    );
    // Even the right password waits now; the wait is bounded, never permanent.
    let page = sign_in(&browser, "t@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.body.contains("Try again in"), "{}", page.body);
}

#[tokio::test]
async fn a_password_reset_link_works_once_and_signs_out_every_session() {
    let app = TestApp::spawn().await;
    let old_browser = signed_up(&app, "r@example.com").await;
    let before = app.outbox().len();
    let forgot = Browser::new(&app)
        .post("/app/forgot-password", &[("email", "r@example.com")])
        .await;
    let unknown = Browser::new(&app)
        .post("/app/forgot-password", &[("email", "x@example.com")])
        .await;
    assert_eq!(
        (forgot.status, forgot.text()),
        (unknown.status, unknown.text())
    );
    let token = app.token_sent_after("r@example.com", before).await;
    let browser = Browser::new(&app);
    let done = browser
        .post(
            "/app/reset-password",
            &[("token", &token), ("password", "brand-new-secret-7")],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let reused = browser
        .post(
            "/app/reset-password",
            &[("token", &token), ("password", "other-secret-77")],
        )
        .await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        old_browser.get("/app").await.status,
        StatusCode::SEE_OTHER,
        "the old session ended"
    );
    assert_eq!(
        sign_in(&browser, "r@example.com", "brand-new-secret-7")
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn forms_from_another_origin_or_without_the_csrf_token_are_refused() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "c@example.com").await;
    let forged = browser
        .post_from(
            "https://evil.example",
            "/app/login",
            &[("email", "c@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A page of another site that sends no referrer posts with `Origin: null`; the
    // browser says where it came from.
    for site in ["cross-site", "same-site", "none"] {
        let hidden = browser
            .post_with_headers(
                "/app/login",
                &[("origin", "null"), ("sec-fetch-site", site)],
                &[("email", "c@example.com"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(hidden.status, StatusCode::FORBIDDEN, "{site}");
    }
    let ours = browser
        .post_with_headers(
            "/app/login",
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            &[("email", "c@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        ours.status,
        StatusCode::SEE_OTHER,
        "our own page, no referrer"
    );
    let no_token = browser.post("/app/logout", &[("csrf_token", "nope")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert_eq!(
        browser.get("/app").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test]
async fn an_admin_generates_a_key_that_is_shown_once_and_works() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "k@example.com").await;
    let key = dashboard_key(&browser, "ci", "viewer").await;
    assert_eq!(
        app.get("/agents", &key).await.0,
        StatusCode::OK,
        "the key works on the API"
    );
    let (status, _) = app
        .post("/agents", &key, serde_json::json!({"name": "x"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "as a viewer key");

    let listed = browser.get("/app/settings/api-keys").await;
    assert!(!listed.body.contains(&key), "shown once");
    assert!(
        listed
            .body
            .contains(&format!("tai_…{}", &key[key.len() - 4..]))
    );
    let start =
        listed.body.find("/app/settings/api-keys/key_").unwrap() + "/app/settings/api-keys/".len();
    let id: String = listed.body[start..]
        .chars()
        .take_while(|c| *c != '/')
        .collect();
    let revoked = browser
        .post(
            &format!("/app/settings/api-keys/{id}/revoke"),
            &[("csrf_token", &listed.csrf())],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(app.get("/agents", &key).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_idle_session_ends_and_the_database_holds_no_secret_in_clear() {
    let app = TestApp::spawn().await;
    let browser = signed_up(&app, "i@example.com").await;
    let reset_token = {
        let before = app.outbox().len();
        Browser::new(&app)
            .post("/app/forgot-password", &[("email", "i@example.com")])
            .await;
        app.token_sent_after("i@example.com", before).await
    };
    let cookies = browser.get("/app").await;
    assert_eq!(cookies.status, StatusCode::OK);
    let dump = app.db.dump().await;
    crate::support::assert_not_stored(&dump, &[PASSWORD, &reset_token]);

    // 31 minutes without a request end the session.
    app.db
        .execute("UPDATE sessions SET last_seen_at = last_seen_at - 1860000")
        .await;
    let page = browser.get("/app").await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app/login")
    );
}

#[tokio::test]
async fn confirmation_email_goes_through_a_real_smtp_server() {
    let Some(sink) = crate::support::smtp::SmtpSink::start().await else {
        return;
    };
    let app = TestApp::with_flags(&[
        "--smtp-url",
        &sink.url,
        "--email-from",
        "thinnest <hello@thinnest.test>",
    ])
    .await;
    let browser = Browser::new(&app);
    let page = browser
        .post(
            "/app/signup",
            &[("email", "mail@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let mut message = None;
    for _ in 0..100 {
        message = sink
            .messages()
            .into_iter()
            .find(|m| m.contains("mail@example.com"));
        if message.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let message = message.expect("a message");
    assert!(message.contains("hello@thinnest.test"), "{message}");
    let text = message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text.find("#token=").expect("a link") + "#token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let page = browser
        .post(
            "/app/verify-email",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        (page.status, page.location()),
        (StatusCode::SEE_OTHER, "/app")
    );
    assert!(app.outbox().is_empty(), "nothing went to the outbox");
}

#[tokio::test]
async fn a_mistyped_password_on_the_confirmation_page_keeps_the_link_working() {
    let app = TestApp::spawn().await;
    let browser = Browser::new(&app);
    let email = "typo@example.com";
    let signup = browser
        .post("/app/signup", &[("email", email), ("password", PASSWORD)])
        .await;
    assert_eq!(signup.status, StatusCode::OK);
    let token = app.emailed_token(email).await;
    let wrong = browser
        .post(
            "/app/verify-email",
            &[("token", &token), ("password", "not-the-one-chosen")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("not the password chosen"));
    // The page shown again holds the token it was sent with, not an empty one.
    let field = format!("name=\"token\" id=\"token\" value=\"{token}\"");
    assert!(wrong.body.contains(&field), "{}", wrong.body);
    let right = browser
        .post(
            "/app/verify-email",
            &[("token", &token), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        (right.status, right.location()),
        (StatusCode::SEE_OTHER, "/app")
    );
}
