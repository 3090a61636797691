//! The verified-key cache never outlives a change: with two instances on one database
//! and the cache of the second warm, a change made through the first (or the command
//! line) holds on the second's very next request. Also when the feed is cut.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Principal, TestApp, send};

/// Limits no loop here reaches (each refused key counts as a failed authentication).
const ROOMY: [&str; 6] = [
    "--limit-agent-crud",
    "1000000",
    "--limit-other",
    "1000000",
    "--auth-failure-limit",
    "1000000",
];

/// Two instances on one database, and an account with an Admin key.
async fn two_instances() -> (TestApp, TestApp, Principal) {
    let one = TestApp::with_flags(&ROOMY).await;
    let two = one.second_instance().await;
    let admin = one.account("admin@example.com").await;
    (one, two, admin)
}

/// A request on `app` that authenticates and answers without touching the store again.
async fn answers(app: &TestApp, key: &str) -> StatusCode {
    app.get("/agents/unknown", key).await.0
}

/// Makes `app` verify `key` and keep it: twice, so the second answer comes from the cache.
async fn warm(app: &TestApp, key: &str) {
    for _ in 0..2 {
        assert_eq!(
            answers(app, key).await,
            StatusCode::NOT_FOUND,
            "the key works"
        );
    }
}

async fn key_cache_status(app: &TestApp) -> String {
    let (status, body) = send(app.request(Method::GET, "/health")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["key_cache"].as_str().unwrap().to_owned()
}

/// Waits (10 s at most) until `app`'s `/health` reports the key cache `want`.
async fn key_cache_becomes(app: &TestApp, want: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while key_cache_status(app).await != want {
        assert!(
            std::time::Instant::now() < deadline,
            "key cache never {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Revokes `key` through `app` with `admin`'s key.
async fn revoke(app: &TestApp, admin: &Principal, key: &Principal) {
    let path = format!("/api-keys/{}", key.key_id);
    let (status, body) = app.call(Method::DELETE, &path, &admin.key, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A new key, made through `one` and in `two`'s cache.
async fn cached_key(one: &TestApp, two: &TestApp, admin: &Principal) -> Principal {
    let key = one.key_with_role(admin, "editor").await;
    warm(two, &key.key).await;
    key
}

/// Revokes `key` through `one`; `two`'s very next request with it is refused.
async fn revoked_on_both(one: &TestApp, two: &TestApp, admin: &Principal, key: &Principal) {
    revoke(one, admin, key).await;
    assert_eq!(answers(two, &key.key).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_by_the_other_at_once() {
    let (one, two, admin) = two_instances().await;
    for _ in 0..100 {
        let key = cached_key(&one, &two, &admin).await;
        revoked_on_both(&one, &two, &admin, &key).await;
    }
    two.stop().await;
}

#[tokio::test]
async fn a_rotated_key_ends_on_the_other_instance_when_its_grace_ends() {
    let (one, two, admin) = two_instances().await;
    for _ in 0..100 {
        let key = cached_key(&one, &two, &admin).await;
        let path = format!("/api-keys/{}/rotate", key.key_id);
        let (status, body) = one
            .post(&path, &admin.key, json!({"grace_seconds": 0}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(answers(&two, &key.key).await, StatusCode::UNAUTHORIZED);
        let successor = body["key"].as_str().unwrap();
        assert_eq!(answers(&two, successor).await, StatusCode::NOT_FOUND);
    }
    // With a grace: the old key works on both until it ends, then on neither.
    let key = cached_key(&one, &two, &admin).await;
    let path = format!("/api-keys/{}/rotate", key.key_id);
    let (status, body) = one
        .post(&path, &admin.key, json!({"grace_seconds": 2}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(answers(&two, &key.key).await, StatusCode::NOT_FOUND);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(answers(&two, &key.key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(answers(&one, &key.key).await, StatusCode::UNAUTHORIZED);
    two.stop().await;
}

#[tokio::test]
async fn a_limit_set_by_the_operator_holds_on_every_instance_at_once() {
    let (one, two, admin) = two_instances().await;
    warm(&one, &admin.key).await;
    warm(&two, &admin.key).await;
    for i in 0..100u32 {
        let limit = 1_000 + i;
        one.set_limit(&admin, "agent_crud", limit).await;
        for app in [&two, &one] {
            let response = app
                .request(Method::GET, "/agents")
                .bearer_auth(&admin.key)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let shown = response.headers()["x-ratelimit-limit"].to_str().unwrap();
            assert_eq!(shown, limit.to_string(), "round {i}");
        }
    }
    two.stop().await;
}

/// Breaks every instance's reports to the feed (as a database that refuses them would),
/// until the returned statement restores it.
async fn cut_the_feed(app: &TestApp) -> &'static str {
    app.db
        .execute("ALTER TABLE key_cache_instances RENAME TO key_cache_instances_cut")
        .await;
    "ALTER TABLE key_cache_instances_cut RENAME TO key_cache_instances"
}

#[tokio::test]
async fn an_instance_cut_from_the_feed_verifies_keys_in_the_database() {
    let (one, two, admin) = two_instances().await;
    let keys = [
        one.key_with_role(&admin, "editor").await,
        one.key_with_role(&admin, "viewer").await,
        one.key_with_role(&admin, "editor").await,
    ];
    for key in &keys {
        warm(&two, &key.key).await;
    }
    assert_eq!(key_cache_status(&two).await, "live");
    let restore = cut_the_feed(&one).await;
    // Within a lease the instances stop trusting their caches, and say so.
    key_cache_becomes(&two, "catching_up").await;
    for key in &keys {
        revoke(&one, &admin, key).await;
        assert_eq!(answers(&two, &key.key).await, StatusCode::UNAUTHORIZED);
        assert_eq!(answers(&two, &admin.key).await, StatusCode::NOT_FOUND);
    }
    one.db.execute(restore).await;
    key_cache_becomes(&two, "live").await;
    let key = cached_key(&one, &two, &admin).await;
    revoked_on_both(&one, &two, &admin, &key).await;
    two.stop().await;
}

#[tokio::test]
async fn losing_the_wake_up_connection_loses_no_change() {
    let (one, two, admin) = two_instances().await;
    let postgres = one.db.url.starts_with("postgres");
    for _ in 0..20 {
        let key = cached_key(&one, &two, &admin).await;
        if postgres {
            // Every instance's listener connection goes; each reconnects on its own.
            one.db
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = 'thinnest-key-feed'",
                )
                .await;
        }
        revoked_on_both(&one, &two, &admin, &key).await;
    }
    two.stop().await;
}

#[tokio::test]
async fn a_member_demoted_or_removed_on_one_instance_leaves_the_other_answering_the_same() {
    use crate::dashboard::{dashboard_key, signed_up};
    use crate::team::{accept, id_after, invite};

    let one = TestApp::with_flags(&ROOMY).await;
    let two = one.second_instance().await;
    let admin = signed_up(&one, "boss@example.com").await;
    let member = signed_up(&one, "dev@example.com").await;
    accept(
        &member,
        &invite(&one, &admin, "dev@example.com", "editor").await,
    )
    .await;
    let key = dashboard_key(&member, "dev", "editor").await;
    warm(&two, &key).await;
    let team = admin.get("/app/settings/team").await;
    let marker = "/app/settings/team/members/";
    let boss_id = id_after(&team, marker);
    // The member's controls follow the first member's on the page.
    let after_boss = &team.body[team.body.find(&boss_id).unwrap() + boss_id.len()..];
    let start = after_boss.rfind(marker).unwrap() + marker.len();
    let dev_id: String = after_boss[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_ne!(dev_id, boss_id);
    // A key keeps its own role whatever happens to its maker (it belongs to the
    // workspace): both instances say so after every change.
    for i in 0..20 {
        let role = if i % 2 == 0 { "viewer" } else { "editor" };
        let changed = admin
            .post(
                &format!("{marker}{dev_id}/role"),
                &[("csrf_token", &team.csrf()), ("role", role)],
            )
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        for app in [&two, &one] {
            let (status, body) = app.post("/agents", &key, json!({"name": "x"})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    }
    let removed = admin
        .post(
            &format!("{marker}{dev_id}/remove"),
            &[("csrf_token", &team.csrf())],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    for app in [&two, &one] {
        assert_eq!(answers(app, &key).await, StatusCode::NOT_FOUND);
    }
    two.stop().await;
}

#[tokio::test]
async fn a_reset_feed_empties_every_cache() {
    let (one, two, admin) = two_instances().await;
    let key = one.key_with_role(&admin, "editor").await;
    // A first change, so that every instance has applied one.
    let other = one.key_with_role(&admin, "viewer").await;
    revoke(&one, &admin, &other).await;
    warm(&two, &key.key).await;
    // As a restored backup would leave it: the feed gone, the key revoked behind the
    // product's back.
    one.db.execute("DELETE FROM key_changes").await;
    one.db
        .execute(&format!(
            "UPDATE api_keys SET revoked_at = 1 WHERE id = '{}'",
            key.key_id
        ))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while answers(&two, &key.key).await != StatusCode::UNAUTHORIZED {
        assert!(std::time::Instant::now() < deadline, "still accepted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    two.stop().await;
}
