//! `/app/settings/webhooks`: the list, the new-endpoint and rotation forms, and one
//! endpoint's page, test event, switch, redelivery and deletion.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{
    Action, BadForm, ELSEWHERE, Workspace, csrf, expect_bad_forms, expect_elsewhere, expect_page,
    expect_roles, expect_sign_in, submit,
};
use crate::coverage::{NO_DELIVERY, NO_HOOK, hook};

#[tokio::test]
async fn the_webhooks_pages_refuse_the_signed_out_weak_roles_strangers_and_bad_forms() {
    let Workspace {
        app,
        admin,
        owner,
        members,
        stranger,
    } = Workspace::new().await;
    let key = owner.key;
    let id = hook(&app, &key).await;
    let base = format!("/app/settings/webhooks/{id}");
    let redeliver = format!("{base}/deliveries/{NO_DELIVERY}/redeliver");

    // Every page and action, with a well-formed form.
    let actions: Vec<Action> = vec![
        (Method::GET, "/app/settings/webhooks".to_owned(), vec![]),
        (
            Method::POST,
            "/app/settings/webhooks".to_owned(),
            vec![
                ("url", "https://hooks.example.com/y"),
                ("events", "*"),
                ("description", ""),
            ],
        ),
        (
            Method::POST,
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "24")],
        ),
        (Method::GET, base.clone(), vec![]),
        (Method::POST, format!("{base}/test"), vec![]),
        (
            Method::POST,
            format!("{base}/enabled"),
            vec![("enabled", "false")],
        ),
        (Method::POST, redeliver.clone(), vec![]),
        (
            Method::POST,
            format!("{base}/edit"),
            vec![
                ("url", "https://hooks.example.com/z"),
                ("event", "agent.created"),
            ],
        ),
        (Method::POST, format!("{base}/delete"), vec![]),
    ];
    expect_sign_in(&app, &actions).await;

    // Roles too weak, with a valid CSRF token: webhooks are for Admins.
    expect_roles(&members, &actions, |_, _| false).await;

    // Another workspace's Admin does not find the endpoint.
    let endpoint_actions: Vec<Action> = actions
        .iter()
        .filter(|(_, path, _)| path.starts_with(&base))
        .cloned()
        .collect();
    expect_elsewhere(&stranger, &endpoint_actions).await;
    // All of that left the endpoint as it was (enabled, there).
    let (status, endpoint) = app.get(&format!("/webhooks/{id}"), &key).await;
    assert_eq!(
        (status, &endpoint["enabled"]),
        (StatusCode::OK, &json!(true)),
        "{endpoint}"
    );

    // Bad input from the Admin. A field the form cannot hold is named with its problem
    // (422), like a value the API refuses.
    let token = csrf(&admin).await;
    let enabled = format!("{base}/enabled");
    let bad_forms: Vec<BadForm> = vec![
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "abc")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours: invalid digit found in string",
        ),
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "-1")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours: invalid digit found in string",
        ),
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `grace_hours`",
        ),
        // Over a week, in the form's own unit.
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "169")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours must be between 0 and 168",
        ),
        (
            "/app/settings/webhooks/rotate".to_owned(),
            vec![("grace_hours", "18446744073709551615")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "grace_hours must be between 0 and 168",
        ),
        (
            enabled.clone(),
            vec![("enabled", "maybe")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "enabled: ",
        ),
        (
            enabled.clone(),
            vec![],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `enabled`",
        ),
        (
            format!("{base}/edit"),
            vec![("url", "https://hooks.example.com/x")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "events must name at least one event type",
        ),
        (redeliver.clone(), vec![], StatusCode::NOT_FOUND, ELSEWHERE),
        (
            format!("{base}/deliveries/nope/redeliver"),
            vec![],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
        (
            format!("/app/settings/webhooks/{NO_HOOK}/test"),
            vec![],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
        (
            "/app/settings/webhooks/nope/delete".to_owned(),
            vec![],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
        (
            "/app/settings/webhooks".to_owned(),
            vec![
                ("url", "ftp://x"),
                ("events", "agent.nope"),
                ("description", ""),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "URL must be an https:// URL",
        ),
    ];
    expect_bad_forms(&admin, &token, &bad_forms).await;
    let (_, after) = app.get(&format!("/webhooks/{id}"), &key).await;
    assert_eq!(after["enabled"], true, "no bad form changed the endpoint");
    assert_eq!(
        after["events"],
        json!(["*"]),
        "no bad form changed the endpoint"
    );

    // The edit form: URL, description and the events ticked.
    let edited = submit(
        &admin,
        &Method::POST,
        &format!("{base}/edit"),
        &[
            ("url", "https://hooks.example.com/x"),
            ("description", "orders"),
            ("event", "api_key.revoked"),
            ("event", "agent.created"),
        ],
        &token,
    )
    .await;
    expect_page(&edited, StatusCode::OK, "Changes saved.", "edit");
    assert!(edited.body.contains("value=\"agent.created\" checked"));
    let (_, after) = app.get(&format!("/webhooks/{id}"), &key).await;
    assert_eq!(after["events"], json!(["agent.created", "api_key.revoked"]));
    assert_eq!(after["description"], "orders");

    // A test event to a disabled endpoint: the page says why (422), not a 500.
    let off = submit(
        &admin,
        &Method::POST,
        &enabled,
        &[("enabled", "false")],
        &token,
    )
    .await;
    expect_page(&off, StatusCode::OK, "Endpoint disabled.", "disable");
    let test = submit(&admin, &Method::POST, &format!("{base}/test"), &[], &token).await;
    expect_page(
        &test,
        StatusCode::UNPROCESSABLE_ENTITY,
        "This endpoint is disabled",
        "test while disabled",
    );
}
