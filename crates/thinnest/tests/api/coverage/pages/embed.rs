//! `/app/agents/{id}/embed`: read by every role, saved by Editors and Admins.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{
    Action, BadForm, ELSEWHERE, Workspace, csrf, expect_bad_forms, expect_elsewhere, expect_roles,
    expect_sign_in,
};
use crate::coverage::SHOP;
use crate::support::TestApp;

/// The agent's embed settings are the ones the Editor saved.
async fn expect_editors_settings(app: &TestApp, key: &str, agent: &str) {
    let (_, settings) = app.get(&format!("/agents/{agent}/embed"), key).await;
    assert_eq!(
        settings,
        json!({"allowed_origins": [SHOP], "identity_verification": "off"})
    );
}

#[tokio::test]
async fn the_embed_page_refuses_the_signed_out_weak_roles_strangers_and_bad_forms() {
    let Workspace {
        app,
        admin,
        owner,
        members,
        stranger,
    } = Workspace::new().await;
    let agent = app.agent(&owner, "Shop helper").await;
    let embed = format!("/app/agents/{agent}/settings/embed");

    // The page and its form, well-formed.
    let actions: Vec<Action> = vec![
        (Method::GET, embed.clone(), vec![]),
        (
            Method::POST,
            embed.clone(),
            vec![("origins", SHOP), ("identity_verification", "off")],
        ),
    ];
    expect_sign_in(&app, &actions).await;

    // Roles too weak, with a valid CSRF token: embed settings are read by every role
    // and saved by Editors and Admins.
    expect_roles(&members, &actions, |role, method| {
        *method == Method::GET || role == "editor"
    })
    .await;

    // Another workspace's Admin does not find the agent.
    expect_elsewhere(&stranger, &actions).await;
    // All of that left the embed as the editor saved it.
    expect_editors_settings(&app, &owner.key, &agent).await;

    // Bad input from the Admin. A field the form cannot hold is named with its problem
    // (422), like a value the API refuses.
    let token = csrf(&admin).await;
    let bad_forms: Vec<BadForm> = vec![
        (
            embed.clone(),
            vec![("origins", SHOP), ("identity_verification", "sometimes")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "identity_verification: unknown variant `sometimes`",
        ),
        (
            embed.clone(),
            vec![("origins", SHOP)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `identity_verification`",
        ),
        (
            embed.clone(),
            vec![
                ("origins", "ftp://shop.example.com"),
                ("identity_verification", "off"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Line 1: must start with https:// or http://.",
        ),
        (
            "/app/agents/nope/settings/embed".to_owned(),
            vec![("origins", SHOP), ("identity_verification", "off")],
            StatusCode::NOT_FOUND,
            ELSEWHERE,
        ),
    ];
    expect_bad_forms(&admin, &token, &bad_forms).await;
    expect_editors_settings(&app, &owner.key, &agent).await;
}
