//! What a flood of the forms anyone can post costs us: budgets refuse it per client
//! before any hashing, row or mail; one inbox gets a few messages an hour at most;
//! sign-ups never confirmed go away; the outbox is private and bounded.

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::dashboard::{PASSWORD, sign_in, signed_up, signed_up_in};
use crate::support::TestApp;
use crate::support::browser::Browser;

const FLOODER: &str = "203.0.113.66";

async fn behind_a_proxy() -> TestApp {
    TestApp::with_flags(&["--trusted-proxy", "127.0.0.1/32"]).await
}

async fn users_like(app: &TestApp, pattern: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email LIKE $1")
        .bind(pattern)
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn a_flood_of_sign_ups_and_resets_from_one_client_is_refused_before_any_work() {
    let app = behind_a_proxy().await;
    signed_up_in(&app, Browser::at(&app, "192.0.2.5"), "owner@example.com").await;
    let flooder = Browser::at(&app, FLOODER);

    let sign_ups = join_all((0..40).map(|i| {
        let email = format!("flood{i}@example.com");
        let flooder = &flooder;
        async move {
            let page = flooder
                .post("/app/signup", &[("email", &email), ("password", PASSWORD)])
                .await;
            (page.status, page.headers.get("retry-after").is_some())
        }
    }))
    .await;
    let accepted = sign_ups
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .count();
    assert_eq!(accepted, 10, "{sign_ups:?}");
    assert!(
        sign_ups
            .iter()
            .all(|(s, retry)| *s == StatusCode::OK
                || (*s == StatusCode::TOO_MANY_REQUESTS && *retry)),
        "{sign_ups:?}"
    );
    // Only the accepted ones left a person (and a message) behind.
    app.outbox_reaches(11).await;
    assert_eq!(users_like(&app, "flood%").await, 10);

    let made_up = "A".repeat(43);
    let resets = join_all((0..40).map(|_| {
        let (flooder, token) = (&flooder, made_up.as_str());
        async move {
            flooder
                .post(
                    "/app/reset-password",
                    &[("token", token), ("password", "a-new-password-9")],
                )
                .await
                .status
        }
    }))
    .await;
    let checked = resets
        .iter()
        .filter(|s| **s == StatusCode::BAD_REQUEST)
        .count();
    let refused = resets
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (10, 30), "{resets:?}");

    // Meanwhile another client signs in as usual.
    let page = sign_in(
        &Browser::at(&app, "192.0.2.5"),
        "owner@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn one_inbox_gets_at_most_three_messages_an_hour_that_strangers_cause() {
    let app = behind_a_proxy().await;
    let owner = signed_up(&app, "victim@example.com").await;
    let sent_before = app.outbox().len();
    // Five strangers at five addresses ask for resets and sign up with the address.
    for i in 0..5 {
        let stranger = Browser::at(&app, &format!("198.51.100.{i}"));
        let path = if i % 2 == 0 {
            "/app/forgot-password"
        } else {
            "/app/signup"
        };
        let page = stranger
            .post(
                path,
                &[("email", "victim@example.com"), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    }
    // The owner's own confirmation was one of the three.
    app.outbox_reaches(sent_before + 2).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let to_victim = app
        .outbox()
        .into_iter()
        .filter(|m| m.contains("To: victim@example.com"))
        .count();
    assert_eq!(to_victim, 3);
    // The links that did go out work: the owner is not locked out of recovery.
    let token = app.emailed_token("victim@example.com").await;
    let done = Browser::new(&app)
        .post(
            "/app/reset-password",
            &[("token", &token), ("password", "brand-new-secret-7")],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    drop(owner);
}

#[tokio::test]
async fn strangers_cannot_use_up_the_messages_that_members_send() {
    let app = behind_a_proxy().await;
    let admin = signed_up(&app, "admin@example.com").await;
    for i in 0..5 {
        Browser::at(&app, &format!("198.51.100.{i}"))
            .post("/app/forgot-password", &[("email", "newcomer@example.com")])
            .await;
        Browser::at(&app, &format!("198.51.100.{i}"))
            .post(
                "/app/signup",
                &[("email", "newcomer@example.com"), ("password", PASSWORD)],
            )
            .await;
    }
    let before = app.outbox().len();
    let token = crate::team::invite(&app, &admin, "newcomer@example.com", "viewer").await;
    assert!(!token.is_empty());
    assert!(app.outbox().len() > before, "the invitation went out");
}

#[tokio::test]
async fn sign_ups_never_confirmed_are_purged_after_a_week() {
    let app = TestApp::spawn().await;
    signed_up(&app, "confirmed@example.com").await;
    for email in ["stale@example.com", "recent@example.com"] {
        let page = Browser::new(&app)
            .post("/app/signup", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(page.status, StatusCode::OK);
    }
    app.outbox_reaches(3).await;
    // The stale one signed up eight days ago and its link ran out.
    let week_and_a_day = 8 * 24 * 3_600_000_i64;
    sqlx::query("UPDATE users SET created_at = created_at - $1 WHERE email <> $2")
        .bind(week_and_a_day)
        .bind("recent@example.com")
        .execute(app.store.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE email_tokens SET expires_at = 0 WHERE user_id = \
         (SELECT id FROM users WHERE email = $1)",
    )
    .bind("stale@example.com")
    .execute(app.store.pool())
    .await
    .unwrap();
    // Another old sign-up asked again today: its new link must keep working.
    let page = Browser::new(&app)
        .post(
            "/app/signup",
            &[("email", "again@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    app.outbox_reaches(4).await;
    sqlx::query("UPDATE users SET created_at = created_at - $1 WHERE email = $2")
        .bind(week_and_a_day)
        .bind("again@example.com")
        .execute(app.store.pool())
        .await
        .unwrap();
    app.store
        .purge_expired(thinnest_now(), 30 * 60_000)
        .await
        .unwrap();
    assert_eq!(
        users_like(&app, "stale@%").await,
        0,
        "an old, unconfirmed sign-up"
    );
    assert_eq!(users_like(&app, "recent@%").await, 1, "a fresh one waits");
    assert_eq!(
        users_like(&app, "again@%").await,
        1,
        "an old one with an open link too"
    );
    assert_eq!(
        users_like(&app, "confirmed@%").await,
        1,
        "a real account stays"
    );
}

fn thinnest_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[cfg(unix)]
#[tokio::test]
async fn the_outbox_holding_live_links_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    signed_up(&app, "owner@example.com").await;
    let dir = app.data_dir.path().join("outbox");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in std::fs::read_dir(&dir).unwrap() {
        assert_eq!(mode(&file.unwrap().path()), 0o600);
    }
}

#[tokio::test]
async fn invitations_cannot_use_up_an_inbox_or_its_reset_links() {
    let app = behind_a_proxy().await;
    signed_up(&app, "victim@example.com").await;
    // Anyone can sign up, have a workspace and invite.
    let stranger = signed_up_in(&app, Browser::at(&app, "198.51.100.9"), "x@example.com").await;
    for _ in 0..3 {
        crate::team::invite(&app, &stranger, "victim@example.com", "viewer").await;
    }
    let team = stranger.get("/app/settings/team").await;
    let fourth = stranger
        .post(
            "/app/settings/team/invitations",
            &[
                ("csrf_token", &team.csrf()),
                ("email", "victim@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(fourth.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        fourth.body.contains("as many invitations as it may get"),
        "{}",
        fourth.body
    );
    // The victim's own reset link still goes out.
    let before = app.outbox().len();
    Browser::at(&app, "192.0.2.50")
        .post("/app/forgot-password", &[("email", "victim@example.com")])
        .await;
    let token = app.token_sent_after("victim@example.com", before).await;
    assert_eq!(token.len(), 43);
}
