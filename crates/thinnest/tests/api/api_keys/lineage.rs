//! What a key may do to other keys: never take over the key that replaced it, never
//! turn on older keys, never outlive the key that made it; and cascading revocation.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::names;
use crate::support::{Principal, TestApp, assert_error};

const WEEK: i64 = 604_800;

/// Rotates `id` with `key` and a grace period; returns the new key's body.
async fn rotate(app: &TestApp, key: &str, id: &str, grace: i64) -> Value {
    let (status, body) = app
        .post(
            &format!("/api-keys/{id}/rotate"),
            key,
            json!({ "grace_seconds": grace }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn secret(body: &Value) -> &str {
    body["key"].as_str().unwrap()
}

fn id(body: &Value) -> &str {
    body["id"].as_str().unwrap()
}

async fn make(app: &TestApp, by: &str, body: Value) -> Value {
    let (status, made) = app.post("/api-keys", by, body).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made
}

fn superseded_by(got: &(StatusCode, Value), successor: &str) {
    assert_error(got, StatusCode::FORBIDDEN, "key_superseded");
    let message = got.1["message"].as_str().unwrap();
    assert!(message.contains(successor), "{message}");
}

#[tokio::test]
async fn a_superseded_key_cannot_take_over_its_lineage() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    // 1. A key for someone who later leaves.
    let k = make(
        &app,
        &admin.key,
        json!({"name": "ex-employee", "role": "editor"}),
    )
    .await;
    // 2. The owner rotates it with a week's grace, keeping the new key.
    let k2 = rotate(&app, &admin.key, id(&k), WEEK).await;
    assert_eq!(k2["created_by_key"], admin.key_id.as_str(), "{k2}");

    // 3. Holding only the old key: the owner's new key cannot be rotated away…
    let got = app
        .call(
            Method::POST,
            &format!("/api-keys/{}/rotate", id(&k2)),
            secret(&k),
            None,
        )
        .await;
    superseded_by(&got, id(&k2));
    // 4. …nor can a key without expiry be minted, nor any key be revoked or listed.
    let got = app
        .post(
            "/api-keys",
            secret(&k),
            json!({"name": "persist", "role": "editor"}),
        )
        .await;
    superseded_by(&got, id(&k2));
    for (method, path) in [
        (Method::DELETE, format!("/api-keys/{}", id(&k2))),
        (Method::DELETE, format!("/api-keys/{}", id(&k))),
        (Method::GET, "/api-keys".to_owned()),
    ] {
        superseded_by(&app.call(method, &path, secret(&k), None).await, id(&k2));
    }
    // During its grace the old key still does its job.
    assert_eq!(app.get("/agents", secret(&k)).await.0, StatusCode::OK);
    // The owner's new key works and is unchanged; nothing was minted.
    assert_eq!(app.get("/agents", secret(&k2)).await.0, StatusCode::OK);
    assert_eq!(
        names(&app, &admin.key).await,
        ["bootstrap", "ex-employee", "ex-employee"]
    );
}

#[tokio::test]
async fn an_admin_key_in_its_grace_cannot_change_keys_webhooks_or_the_signing_secret() {
    let app = TestApp::spawn().await;
    let owner = app.account("owner@example.com").await;
    let old = make(&app, &owner.key, json!({"name": "ops", "role": "admin"})).await;
    let new = rotate(&app, &owner.key, id(&old), WEEK).await;
    let hook = json!({"url": "https://hooks.example.com/in", "events": ["*"]});
    for (method, path, body) in [
        (Method::POST, "/webhooks".to_owned(), Some(hook)),
        (Method::GET, "/webhooks".to_owned(), None),
        (Method::GET, "/webhooks/signing-secret".to_owned(), None),
        (
            Method::POST,
            "/webhooks/signing-secret/rotate".to_owned(),
            None,
        ),
        (Method::DELETE, format!("/api-keys/{}", owner.key_id), None),
        (
            Method::POST,
            "/api-keys".to_owned(),
            Some(json!({"name": "x"})),
        ),
    ] {
        let got = app.call(method, &path, secret(&old), body).await;
        superseded_by(&got, id(&new));
    }
    // Data access goes on until the grace ends; the new key governs.
    assert_eq!(app.get("/agents", secret(&old)).await.0, StatusCode::OK);
    let (status, _) = app.get("/webhooks/signing-secret", secret(&new)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_never_acts_on_an_older_key_or_on_its_own_rotations() {
    let app = TestApp::spawn().await;
    let owner = app.account("owner@example.com").await;
    let younger = make(&app, &owner.key, json!({"name": "ci", "role": "admin"})).await;
    // An Admin key made later cannot revoke or rotate the key that outranks it in age.
    for (method, path) in [
        (Method::DELETE, format!("/api-keys/{}", owner.key_id)),
        (Method::POST, format!("/api-keys/{}/rotate", owner.key_id)),
    ] {
        let got = app.call(method, &path, secret(&younger), None).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            got.1["message"].as_str().unwrap().contains("older"),
            "{}",
            got.1
        );
    }
    // A rotation's new key cannot act on the key it replaced.
    let next = rotate(&app, secret(&younger), id(&younger), WEEK).await;
    let got = app
        .call(
            Method::DELETE,
            &format!("/api-keys/{}", id(&younger)),
            secret(&next),
            None,
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        got.1["message"].as_str().unwrap().contains("rotation"),
        "{}",
        got.1
    );
    // The older key still reaches the younger ones, and itself.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api-keys/{}", id(&younger)),
            &owner.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.get("/agents", &owner.key).await.0, StatusCode::OK);
    assert_eq!(app.get("/agents", secret(&next)).await.0, StatusCode::OK);

    // Rotating the older key does not make it younger: it still outranks `next`.
    let renewed = rotate(&app, &owner.key, &owner.key_id, WEEK).await;
    let path = format!("/api-keys/{}", id(&renewed));
    let got = app.call(Method::DELETE, &path, secret(&next), None).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let path = format!("/api-keys/{}", id(&next));
    let (status, _) = app
        .call(Method::DELETE, &path, secret(&renewed), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_editor_key_reaches_itself_and_what_it_made_transitively() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let editor = make(&app, &admin.key, json!({"name": "e", "role": "editor"})).await;
    let child = make(&app, secret(&editor), json!({"name": "e1"})).await;
    let grandchild = make(
        &app,
        secret(&child),
        json!({"name": "e2", "role": "viewer"}),
    )
    .await;
    assert_eq!(child["created_by_key"], id(&editor));
    assert_eq!(grandchild["created_by_key"], id(&child));
    assert_eq!(names(&app, secret(&editor)).await, ["e", "e1", "e2"]);
    assert_eq!(names(&app, secret(&child)).await, ["e1", "e2"]);
    // A key made by another cannot see or touch its maker.
    let got = app
        .get(&format!("/api-keys/{}", id(&editor)), secret(&child))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    // A rotation takes the old key's place: same maker, and what it made moves along.
    let rotated = rotate(&app, secret(&editor), id(&editor), WEEK).await;
    assert_eq!(rotated["created_by_key"], admin.key_id.as_str());
    assert_eq!(names(&app, secret(&rotated)).await, ["e", "e", "e1", "e2"]);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api-keys/{}", id(&grandchild)),
            secret(&rotated),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_made_by_a_key_expires_no_later_than_its_maker() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let until = "2030-01-01T00:00:00.000Z";
    let maker = make(
        &app,
        &admin.key,
        json!({"name": "m", "role": "admin", "expires_at": until}),
    )
    .await;
    let inherited = make(&app, secret(&maker), json!({"name": "no expiry asked"})).await;
    assert_eq!(inherited["expires_at"], until);
    let sooner = make(
        &app,
        secret(&maker),
        json!({"name": "s", "expires_at": "2029-06-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(sooner["expires_at"], "2029-06-01T00:00:00.000Z");
    let got = app
        .post(
            "/api-keys",
            secret(&maker),
            json!({"name": "later", "expires_at": "2031-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request");
    assert!(
        got.1["fields"]["expires_at"]
            .as_str()
            .unwrap()
            .contains(until),
        "{}",
        got.1
    );
    // A rotation made by a key is capped the same way.
    let forever = make(&app, &admin.key, json!({"name": "forever"})).await;
    let rotated = rotate(&app, secret(&maker), id(&forever), 0).await;
    assert_eq!(rotated["expires_at"], until);
}

async fn status_of(app: &TestApp, principal: &Principal, key: &Value) -> Value {
    let (_, info) = app
        .get(&format!("/api-keys/{}", id(key)), &principal.key)
        .await;
    info["status"].clone()
}

#[tokio::test]
async fn revoking_with_cascade_ends_every_key_the_key_made() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let leaked = make(
        &app,
        &admin.key,
        json!({"name": "leaked", "role": "editor"}),
    )
    .await;
    let persist = make(&app, secret(&leaked), json!({"name": "persist"})).await;
    let deeper = make(&app, secret(&persist), json!({"name": "deeper"})).await;
    let bystander = make(&app, &admin.key, json!({"name": "other"})).await;

    let path = format!("/api-keys/{}?cascade=maybe", id(&leaked));
    let got = app.call(Method::DELETE, &path, &admin.key, None).await;
    assert_eq!(got.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", got.1);
    assert_eq!(status_of(&app, &admin, &leaked).await, "active");

    let path = format!("/api-keys/{}?cascade=true", id(&leaked));
    let (status, revoked) = app.call(Method::DELETE, &path, &admin.key, None).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["also_revoked"], json!([id(&persist), id(&deeper)]));
    for key in [&leaked, &persist, &deeper] {
        assert_error(
            &app.get("/agents", secret(key)).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    assert_eq!(
        app.get("/agents", secret(&bystander)).await.0,
        StatusCode::OK
    );
    // Without cascade, only the key itself goes.
    let parent = make(&app, &admin.key, json!({"name": "p", "role": "editor"})).await;
    let kept = make(&app, secret(&parent), json!({"name": "kept"})).await;
    let path = format!("/api-keys/{}", id(&parent));
    let (_, revoked) = app.call(Method::DELETE, &path, &admin.key, None).await;
    assert_eq!(revoked["also_revoked"], json!([]));
    assert_eq!(status_of(&app, &admin, &kept).await, "active");
}

#[tokio::test]
async fn keys_minted_while_their_maker_is_cascaded_away_do_not_survive() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let leaked = make(
        &app,
        &admin.key,
        json!({"name": "leaked", "role": "editor"}),
    )
    .await;
    let mints = (0..20).map(|i| {
        app.post(
            "/api-keys",
            secret(&leaked),
            json!({ "name": format!("spray {i}") }),
        )
    });
    let path = format!("/api-keys/{}?cascade=true", id(&leaked));
    let revoke = app.call(Method::DELETE, &path, &admin.key, None);
    let (minted, (status, _)) = tokio::join!(futures_util::future::join_all(mints), revoke);
    assert_eq!(status, StatusCode::OK);
    for (status, made) in minted {
        if status == StatusCode::CREATED {
            // Made before the revocation: the cascade found it.
            assert_error(
                &app.get("/agents", secret(&made)).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        } else {
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::CONFLICT].contains(&status),
                "{status}: {made}"
            );
        }
    }
}

#[tokio::test]
async fn a_cascade_racing_a_rotation_within_the_lineage_never_deadlocks() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    for round in 0..10 {
        let name = format!("leaked {round}");
        let leaked = make(&app, &admin.key, json!({"name": name, "role": "admin"})).await;
        let older = make(&app, secret(&leaked), json!({"name": "older"})).await;
        let newer = make(&app, secret(&leaked), json!({"name": "newer"})).await;
        // The older sibling rotates the newer one (a key acts on keys made after it)
        // while their maker goes with cascade: the two lock the same rows.
        let rotate = format!("/api-keys/{}/rotate", id(&newer));
        let revoke = format!("/api-keys/{}?cascade=true", id(&leaked));
        let ((rotated, replacement), (revoked, body)) = tokio::join!(
            app.call(Method::POST, &rotate, secret(&older), None),
            app.call(Method::DELETE, &revoke, &admin.key, None)
        );
        assert_eq!(revoked, StatusCode::OK, "{body}");
        let lost = [StatusCode::UNAUTHORIZED, StatusCode::CONFLICT];
        assert!(
            rotated == StatusCode::CREATED || lost.contains(&rotated),
            "{rotated}: {replacement}"
        );
        // Whichever came first, nothing of the lineage works afterwards.
        let mut lineage = vec![&older, &newer];
        if rotated == StatusCode::CREATED {
            lineage.push(&replacement);
        }
        for key in lineage {
            assert_error(
                &app.get("/agents", secret(key)).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
    }
}
