//! `/knowledge`: another account's agent or none, a missing or unknown query field.

use reqwest::{Method, StatusCode};

use super::{Accounts, Body, Refusal, embed_settings, expect_anonymous_refused, expect_refusals};

#[tokio::test]
async fn knowledge_refuses_the_anonymous_strangers_and_bad_queries() {
    let Accounts {
        app,
        admin,
        mine,
        theirs,
        viewer,
        ..
    } = Accounts::new().await;
    let no_agent = "No agent with that id in this account.";
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let not_found = StatusCode::NOT_FOUND;

    let cases: Vec<Refusal> = vec![
        (
            Method::GET,
            format!("/knowledge?agent_id={theirs}"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/knowledge?agent_id=nope".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/knowledge?agent_id=".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/knowledge".to_owned(),
            &admin,
            Body::None,
            unprocessable,
            "invalid_request",
            "missing field `agent_id`",
        ),
        (
            Method::GET,
            "/knowledge".to_owned(),
            &viewer,
            Body::None,
            unprocessable,
            "invalid_request",
            "missing field `agent_id`",
        ),
        (
            Method::GET,
            format!("/knowledge?agent_id={mine}&colour=red"),
            &admin,
            Body::None,
            unprocessable,
            "invalid_request",
            "unknown field `colour`",
        ),
    ];
    expect_refusals(&app, &cases).await;
    let anonymous = [(Method::GET, format!("/knowledge?agent_id={mine}"))];
    expect_anonymous_refused(&app, &anonymous, &Body::Json(embed_settings())).await;
}
