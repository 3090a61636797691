//! The agent pages: read by every role, changed by Editors and Admins, found by no
//! other workspace, and bad forms answered at their fields.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{
    Action, BadForm, ELSEWHERE, NOT_ALLOWED, Workspace, csrf, expect_bad_forms, expect_elsewhere,
    expect_page, expect_roles, expect_sign_in, submit,
};
use crate::team::id_after;

/// An agent form's fields, well-formed, with `name`.
fn agent_fields(name: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", name),
        ("instructions", "Help shoppers."),
        ("model", "builtin"),
        ("voice_provider", "builtin"),
        ("voice_id", "default"),
        ("language", "en-US"),
        ("speed", "1.0"),
    ]
}

#[tokio::test]
async fn agent_pages_refuse_the_signed_out_weak_roles_strangers_and_bad_forms() {
    let Workspace {
        app,
        admin,
        owner,
        members,
        stranger,
    } = Workspace::new().await;
    let agent = app.agent(&owner, "Shop helper").await;
    let (_, said) = app
        .post(
            "/conversations",
            &owner.key,
            json!({"agent_id": agent, "message": "hello"}),
        )
        .await;
    let conversation = said["conversation_id"].as_str().unwrap().to_owned();
    let at = |tail: &str| format!("/app/agents/{agent}{tail}");

    let actions: Vec<Action> = vec![
        (Method::GET, at(""), vec![]),
        (Method::GET, at("/knowledge"), vec![]),
        (Method::GET, at("/tools"), vec![]),
        (Method::GET, at("/conversations"), vec![]),
        (
            Method::GET,
            at(&format!("/conversations/{conversation}")),
            vec![],
        ),
        (Method::GET, at("/settings"), vec![]),
        (Method::GET, at("/settings/embed"), vec![]),
        (Method::POST, at("/chat"), vec![("message", "hello")]),
        (
            Method::POST,
            at("/knowledge"),
            vec![("title", "Hours"), ("text", "We open at 9.")],
        ),
        (Method::POST, at("/settings"), agent_fields("Shop helper")),
    ];
    let making: Vec<Action> = vec![
        (Method::GET, "/app/agents/new".to_owned(), vec![]),
        (Method::POST, "/app/agents".to_owned(), agent_fields("Made")),
    ];
    expect_sign_in(&app, &[actions.clone(), making.clone()].concat()).await;
    expect_roles(&members, &actions, |role, method| {
        *method == Method::GET || role == "editor"
    })
    .await;
    expect_roles(&members, &making, |role, _| role == "editor").await;
    expect_elsewhere(&stranger, &actions).await;

    // Bad input from the Admin: each problem at its field, in words.
    let token = csrf(&admin).await;
    let too_long_model = "m".repeat(101).leak() as &'static str;
    let mut blank = agent_fields("  ");
    blank.retain(|(name, _)| *name != "speed");
    blank.push(("speed", "fast"));
    let mut long_model = agent_fields("Shop helper");
    long_model.retain(|(name, _)| *name != "model");
    long_model.push(("model", too_long_model));
    let bad_forms: Vec<BadForm> = vec![
        (
            "/app/agents".to_owned(),
            blank,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Speaking rate must be a number between 0.5 and 2.0.",
        ),
        (
            "/app/agents".to_owned(),
            agent_fields("  "),
            StatusCode::UNPROCESSABLE_ENTITY,
            "Name must not be empty.",
        ),
        (
            at("/settings"),
            long_model,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Model must be at most 100 characters.",
        ),
        (
            at("/settings"),
            vec![("model", "builtin")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `name`",
        ),
        (
            at("/chat"),
            vec![("message", "")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Your message must not be empty.",
        ),
        (
            at("/knowledge"),
            vec![("title", ""), ("text", "Something")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Title must not be empty.",
        ),
        (
            "/app/agents/nope/chat".to_owned(),
            vec![("message", "hello")],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
    ];
    expect_bad_forms(&admin, &token, &bad_forms).await;
    // What was typed stays in the form shown again.
    let kept = submit(
        &admin,
        &Method::POST,
        &at("/knowledge"),
        &[("title", ""), ("text", "Typed before the mistake")],
        &token,
    )
    .await;
    assert!(kept.body.contains(">Typed before the mistake</textarea>"));

    // Deleting a document and the agent: a Viewer is refused, a stranger finds
    // nothing, the Editor deletes.
    let knowledge = admin.get(&at("/knowledge")).await;
    let document = id_after(&knowledge, "/knowledge/");
    let deletions = [at(&format!("/knowledge/{document}/delete")), at("/delete")];
    let (_, viewer) = &members[1];
    let (_, editor) = &members[0];
    let (viewer_token, editor_token) = (csrf(viewer).await, csrf(editor).await);
    let stranger_token = csrf(&stranger).await;
    for path in &deletions {
        let refused = submit(viewer, &Method::POST, path, &[], &viewer_token).await;
        expect_page(&refused, StatusCode::FORBIDDEN, NOT_ALLOWED, path);
        let elsewhere = submit(&stranger, &Method::POST, path, &[], &stranger_token).await;
        expect_page(&elsewhere, StatusCode::NOT_FOUND, ELSEWHERE, path);
        let done = submit(editor, &Method::POST, path, &[], &editor_token).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{path}: {}", done.body);
    }
    let (status, _) = app.get(&format!("/agents/{agent}"), &owner.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
