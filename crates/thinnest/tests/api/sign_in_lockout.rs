//! Guessers cannot lock the owner out; the throttle covers every password check; the
//! audit log does not grow a row per guess.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::dashboard::{PASSWORD, dashboard_key, sign_in, signed_up_in};
use crate::support::TestApp;
use crate::support::browser::Browser;

const OWNER: &str = "owner@example.com";

async fn behind_a_proxy() -> TestApp {
    TestApp::with_flags(&["--trusted-proxy", "127.0.0.1/32"]).await
}

/// Ten addresses each guess as fast as their own budgets let them.
async fn ten_guessers(app: &TestApp) {
    join_all((1..=10).map(|n| async move {
        let guesser = Browser::at(app, &format!("198.51.100.{n}"));
        for i in 0..12 {
            sign_in(&guesser, OWNER, &format!("guess-{n}-{i}")).await;
        }
    }))
    .await;
}

#[tokio::test]
async fn a_guesser_elsewhere_cannot_lock_the_owner_out() {
    let app = behind_a_proxy().await;
    // The owner's laptop has signed in before: it holds a device cookie.
    let laptop = signed_up_in(&app, Browser::at(&app, "192.0.2.11"), OWNER).await;
    let home = laptop.get("/app").await;
    laptop
        .post("/app/logout", &[("csrf_token", &home.csrf())])
        .await;

    ten_guessers(&app).await;

    // The known browser signs in at once, on an eleventh address.
    let page = sign_in(&laptop, OWNER, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/app");

    // A browser never seen before is slowed while the address is guessed at…
    let phone = Browser::at(&app, "192.0.2.12");
    for _ in 0..2 {
        let page = sign_in(&phone, OWNER, "not-it-at-all").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    }
    let slowed = sign_in(&phone, OWNER, PASSWORD).await;
    assert_eq!(slowed.status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = slowed.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&wait),
        "a wait of at most a minute: {wait}"
    );
    // …but not refused: another new browser gets its turn and signs in.
    let tablet = Browser::at(&app, "192.0.2.13");
    let page = sign_in(&tablet, OWNER, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}

#[tokio::test]
async fn a_device_cookie_from_elsewhere_or_for_someone_else_counts_for_nothing() {
    let app = behind_a_proxy().await;
    let other = signed_up_in(&app, Browser::at(&app, "192.0.2.20"), "other@example.com").await;
    signed_up_in(&app, Browser::at(&app, "192.0.2.21"), OWNER).await;
    ten_guessers(&app).await;
    // A browser known for another person is new for this one: slowed like any other.
    for _ in 0..2 {
        sign_in(&other, OWNER, "not-it-at-all").await;
    }
    let page = sign_in(&other, OWNER, PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
}

#[tokio::test]
async fn changing_the_password_is_throttled_like_a_sign_in() {
    let app = behind_a_proxy().await;
    let browser = signed_up_in(&app, Browser::at(&app, "192.0.2.40"), OWNER).await;
    let mut last = None;
    for i in 0..12 {
        let page = browser.get("/app/settings/security").await;
        let changed = browser
            .post(
                "/app/settings/security/password",
                &[
                    ("csrf_token", &page.csrf()),
                    ("current_password", &format!("guess-{i}")),
                    ("password", "a-brand-new-one-42"),
                ],
            )
            .await;
        last = Some(changed.body);
    }
    let last = last.unwrap();
    assert!(last.contains("Too many attempts. Try again in"), "{last}");
    // The right password waits too: the guesses were counted.
    let page = browser.get("/app/settings/security").await;
    let changed = browser
        .post(
            "/app/settings/security/password",
            &[
                ("csrf_token", &page.csrf()),
                ("current_password", PASSWORD),
                ("password", "a-brand-new-one-42"),
            ],
        )
        .await;
    assert!(
        changed.body.contains("Too many attempts"),
        "{}",
        changed.body
    );
    let elsewhere = Browser::at(&app, "192.0.2.41");
    let page = sign_in(&elsewhere, OWNER, "a-brand-new-one-42").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "unchanged");
}

fn failed_entries(log: &Value) -> Vec<&Value> {
    log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "user.sign_in_failed")
        .collect()
}

#[tokio::test]
async fn failed_sign_ins_fold_into_one_audit_entry_per_address_and_minute() {
    let app = behind_a_proxy().await;
    let owner = signed_up_in(&app, Browser::at(&app, "192.0.2.30"), OWNER).await;
    let key = dashboard_key(&owner, "audit reader", "admin").await;
    let guesser = Browser::at(&app, "198.51.100.77");
    for i in 0..5 {
        let page = sign_in(&guesser, OWNER, &format!("guess-{i}")).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    sign_in(&Browser::at(&app, "198.51.100.78"), OWNER, "guess").await;
    let mut entries = Vec::new();
    for _ in 0..50 {
        let (_, log) = app.get("/audit-log", &key).await;
        let failed = failed_entries(&log);
        let counted: i64 = failed.iter().map(|e| e["count"].as_i64().unwrap()).sum();
        if counted == 6 {
            entries = failed.into_iter().cloned().collect();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // One entry a minute per address (five guesses may straddle a minute: two at most).
    let from = |ip: &str| -> Vec<i64> {
        entries
            .iter()
            .filter(|e| e["client_ip"] == ip)
            .map(|e| e["count"].as_i64().unwrap())
            .collect()
    };
    let guesses = from("198.51.100.77");
    assert!(guesses.len() <= 2, "{entries:?}");
    assert_eq!(guesses.iter().sum::<i64>(), 5, "{entries:?}");
    assert_eq!(from("198.51.100.78"), [1]);
}
