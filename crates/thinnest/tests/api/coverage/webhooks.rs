//! `/webhooks`: no credentials, roles too weak, another account's endpoint or none,
//! bad PATCH bodies and bad signing-secret rotations.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Body, FLAGS, NO_HOOK, api, expect_error, hook};
use crate::support::{Principal, TestApp};

/// An app whose owner has one endpoint: the app, the owner and `/webhooks/{id}`.
async fn owner_with_hook() -> (TestApp, Principal, String) {
    let app = TestApp::with_flags(FLAGS).await;
    let admin = app.account("owner@example.com").await;
    let mine = hook(&app, &admin.key).await;
    (app, admin, format!("/webhooks/{mine}"))
}

/// A PATCH that would change the endpoint if it got through.
fn patch() -> Body {
    Body::Json(json!({"enabled": false}))
}

#[tokio::test]
async fn webhooks_refuse_the_anonymous_and_weak_roles_before_reading_anything() {
    let (app, admin, one) = owner_with_hook().await;
    let editor = app.key_with_role(&admin, "editor").await;
    let viewer = app.key_with_role(&admin, "viewer").await;
    let test = format!("{one}/test");

    // No credentials, then each role too weak: refused before anything is read.
    let routes = [
        (Method::GET, one.clone(), Body::None),
        (Method::PATCH, one.clone(), patch()),
        (Method::DELETE, one.clone(), Body::None),
        (Method::POST, test.clone(), Body::None),
        // Even a bad body: the role is checked first.
        (
            Method::PATCH,
            one.clone(),
            Body::Raw("application/json", "{oops"),
        ),
    ];
    for (method, path, body) in &routes {
        let case = format!("anonymous {method} {path}");
        let got = api(&app, method.clone(), path, None, body).await;
        expect_error(
            &got,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing API key",
            &case,
        );
        for member in [&editor, &viewer] {
            let case = format!("{} {method} {path}", member.key_id);
            let got = api(&app, method.clone(), path, Some(&member.key), body).await;
            expect_error(
                &got,
                StatusCode::FORBIDDEN,
                "forbidden",
                "cannot manage webhooks",
                &case,
            );
        }
    }
}

#[tokio::test]
async fn webhooks_of_another_account_and_ids_that_name_nothing_are_not_found() {
    let (app, admin, _) = owner_with_hook().await;
    let other = app.account("other@example.com").await;
    let theirs = hook(&app, &other.key).await;

    // Another account's endpoint, and ids that name nothing.
    let missing = "No webhook endpoint with that id in this account.";
    let not_found = [
        (Method::GET, format!("/webhooks/{theirs}"), Body::None),
        (Method::PATCH, format!("/webhooks/{theirs}"), patch()),
        (Method::DELETE, format!("/webhooks/{theirs}"), Body::None),
        (Method::POST, format!("/webhooks/{theirs}/test"), Body::None),
        (Method::DELETE, "/webhooks/wh_nope".to_owned(), Body::None),
        (Method::DELETE, format!("/webhooks/{NO_HOOK}"), Body::None),
        (Method::POST, "/webhooks/nope/test".to_owned(), Body::None),
        (
            Method::POST,
            format!("/webhooks/{NO_HOOK}/test"),
            Body::None,
        ),
        (Method::PATCH, "/webhooks/nope".to_owned(), patch()),
    ];
    for (method, path, body) in &not_found {
        let case = format!("{method} {path}");
        let got = api(&app, method.clone(), path, Some(&admin.key), body).await;
        expect_error(&got, StatusCode::NOT_FOUND, "not_found", missing, &case);
    }
    let (status, still) = app.get(&format!("/webhooks/{theirs}"), &other.key).await;
    assert_eq!((status, &still["enabled"]), (StatusCode::OK, &json!(true)));
}

#[tokio::test]
async fn bad_webhook_patches_are_refused_with_the_field_and_its_problem() {
    let (app, admin, one) = owner_with_hook().await;

    // Bad PATCH bodies: (body, status, code, what the message says, the field named).
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let bad_patches = [
        (
            Body::Json(json!({"url": "ftp://hooks.example.com/x"})),
            unprocessable,
            "invalid_request",
            "url must be an https:// URL",
            "url",
        ),
        (
            Body::Json(json!({"url": "http://hooks.example.com/x"})),
            unprocessable,
            "invalid_request",
            "url must use https",
            "url",
        ),
        (
            Body::Json(json!({"url": "not a url"})),
            unprocessable,
            "invalid_request",
            "url must be an absolute URL",
            "url",
        ),
        (
            Body::Json(json!({"url": "https://127.0.0.1/x"})),
            unprocessable,
            "invalid_request",
            "private",
            "url",
        ),
        (
            Body::Json(json!({"events": ["call.exploded"]})),
            unprocessable,
            "invalid_request",
            "\"call.exploded\" is not an event type",
            "events",
        ),
        (
            Body::Json(json!({"events": []})),
            unprocessable,
            "invalid_request",
            "at least one event type",
            "events",
        ),
        (
            Body::Json(json!({"events": ["*", "agent.created"]})),
            unprocessable,
            "invalid_request",
            "already means every event type",
            "events",
        ),
        (
            Body::Json(json!({"events": "agent.created"})),
            unprocessable,
            "invalid_request",
            "invalid type",
            "events",
        ),
        (
            Body::Json(json!({"enabled": "yes"})),
            unprocessable,
            "invalid_request",
            "invalid type",
            "enabled",
        ),
        (
            Body::Json(json!({"colour": "red"})),
            unprocessable,
            "invalid_request",
            "unknown field `colour`",
            "colour",
        ),
        (
            Body::Json(json!({"description": "x".repeat(501)})),
            unprocessable,
            "invalid_request",
            "description must be at most 500 characters",
            "description",
        ),
        (
            Body::Raw("application/json", "{\"url\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
            "",
        ),
        (
            Body::Raw("application/json", "{\"url\": \"https://x"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
            "",
        ),
        (
            Body::Raw("text/plain", "url=https://x.example.com"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
            "",
        ),
        (
            Body::None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
            "",
        ),
    ];
    for (body, status, code, fragment, field) in &bad_patches {
        let case = body.describe("PATCH");
        let got = api(&app, Method::PATCH, &one, Some(&admin.key), body).await;
        expect_error(&got, *status, code, fragment, &case);
        if !field.is_empty() {
            assert!(
                got.1["fields"][field].is_string(),
                "{case}: names {field}: {}",
                got.1
            );
        }
    }
    let (_, unchanged) = app.get(&one, &admin.key).await;
    assert_eq!(unchanged["url"], "https://hooks.example.com/x");
    assert_eq!(unchanged["events"], json!(["*"]));
    assert_eq!(unchanged["enabled"], true);
}

#[tokio::test]
async fn bad_signing_secret_rotations_say_what_grace_seconds_may_be() {
    let (app, admin, _) = owner_with_hook().await;

    // Rotating with a bad grace period says what grace_seconds may be.
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let rotate = "/webhooks/signing-secret/rotate";
    let (_, before) = app.get("/webhooks/signing-secret", &admin.key).await;
    let bad_rotations = [
        (
            Body::Json(json!({"grace_seconds": 604_801})),
            unprocessable,
            "invalid_request",
            "grace_seconds must be between 0 and 604800",
        ),
        (
            Body::Json(json!({"grace_seconds": u64::MAX})),
            unprocessable,
            "invalid_request",
            "grace_seconds must be between 0 and 604800",
        ),
        (
            Body::Json(json!({"grace_seconds": -1})),
            unprocessable,
            "invalid_request",
            "grace_seconds: invalid value",
        ),
        (
            Body::Json(json!({"grace_seconds": 1.5})),
            unprocessable,
            "invalid_request",
            "grace_seconds: invalid type",
        ),
        (
            Body::Json(json!({"grace_seconds": "abc"})),
            unprocessable,
            "invalid_request",
            "grace_seconds: invalid type",
        ),
        (
            Body::Json(json!({"grace": 5})),
            unprocessable,
            "invalid_request",
            "unknown field `grace`",
        ),
        (
            Body::Raw("application/json", "{\"grace_seconds\": "),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
        ),
        (
            Body::Raw("text/plain", "grace_seconds=5"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type: application/json",
        ),
    ];
    for (body, status, code, fragment) in &bad_rotations {
        let case = body.describe("rotate");
        let got = api(&app, Method::POST, rotate, Some(&admin.key), body).await;
        expect_error(&got, *status, code, fragment, &case);
    }
    let (_, after) = app.get("/webhooks/signing-secret", &admin.key).await;
    assert_eq!(before["secret"], after["secret"], "no bad rotation rotated");
}
