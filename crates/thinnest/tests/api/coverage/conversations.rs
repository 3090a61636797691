//! `/conversations/{id}`: ids that name nothing, a role too weak to end one.

use reqwest::{Method, StatusCode};

use super::{
    Accounts, Body, NO_CONVERSATION, Refusal, embed_settings, expect_anonymous_refused,
    expect_refusals,
};

#[tokio::test]
async fn conversations_refuse_the_anonymous_unknown_ids_and_weak_roles() {
    let Accounts {
        app, admin, viewer, ..
    } = Accounts::new().await;
    let not_found = StatusCode::NOT_FOUND;

    let cases: Vec<Refusal> = vec![
        (
            Method::GET,
            "/conversations/nope".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::GET,
            format!("/conversations/{NO_CONVERSATION}"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::POST,
            "/conversations/nope/end".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::POST,
            format!("/conversations/{NO_CONVERSATION}/end"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            "No conversation with that id",
        ),
        (
            Method::POST,
            "/conversations/nope/end".to_owned(),
            &viewer,
            Body::None,
            StatusCode::FORBIDDEN,
            "forbidden",
            "cannot create or change agents",
        ),
    ];
    expect_refusals(&app, &cases).await;
    let anonymous = [
        (Method::GET, "/conversations/nope".to_owned()),
        (Method::POST, "/conversations/nope/end".to_owned()),
    ];
    expect_anonymous_refused(&app, &anonymous, &Body::Json(embed_settings())).await;
}
