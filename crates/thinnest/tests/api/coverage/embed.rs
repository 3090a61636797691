//! `/agents/{id}/embed`: another account's agent or none, a role too weak, bad bodies.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Accounts, Body, Refusal, embed_settings, expect_anonymous_refused, expect_refusals};

#[tokio::test]
async fn embed_settings_refuse_the_anonymous_strangers_weak_roles_and_bad_bodies() {
    let Accounts {
        app,
        admin,
        other,
        mine,
        theirs,
        viewer,
    } = Accounts::new().await;
    let embed = embed_settings();
    let no_agent = "No agent with that id in this account.";
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let not_found = StatusCode::NOT_FOUND;

    let cases: Vec<Refusal> = vec![
        // Another account's agent, an agent that is not.
        (
            Method::GET,
            format!("/agents/{theirs}/embed"),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::PUT,
            format!("/agents/{theirs}/embed"),
            &admin,
            Body::Json(embed.clone()),
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::GET,
            "/agents/nope/embed".to_owned(),
            &admin,
            Body::None,
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::PUT,
            "/agents/nope/embed".to_owned(),
            &admin,
            Body::Json(embed.clone()),
            not_found,
            "not_found",
            no_agent,
        ),
        (
            Method::PUT,
            "/agents/nope/embed".to_owned(),
            &admin,
            Body::Json(json!({"allowed_origins": []})),
            unprocessable,
            "invalid_request",
            "missing field `identity_verification`",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &viewer,
            Body::Json(embed.clone()),
            StatusCode::FORBIDDEN,
            "forbidden",
            "cannot create or change agents",
        ),
        // Bad bodies.
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(json!({"allowed_origins": [], "identity_verification": "maybe"})),
            unprocessable,
            "invalid_request",
            "unknown variant `maybe`",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(
                json!({"allowed_origins": ["ftp://shop.example.com"], "identity_verification": "off"}),
            ),
            unprocessable,
            "invalid_request",
            "allowed_origins[0] must start with https:// or http://",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(
                json!({"allowed_origins": ["https://shop.example.com/cart"], "identity_verification": "off"}),
            ),
            unprocessable,
            "invalid_request",
            "without a path",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Json(
                json!({"allowed_origins": [], "identity_verification": "off", "theme": "dark"}),
            ),
            unprocessable,
            "invalid_request",
            "unknown field `theme`",
        ),
        (
            Method::PUT,
            format!("/agents/{mine}/embed"),
            &admin,
            Body::Raw("application/json", "{\"allowed_origins\": ["),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "The body is not valid JSON",
        ),
    ];
    expect_refusals(&app, &cases).await;
    let anonymous = [
        (Method::GET, format!("/agents/{mine}/embed")),
        (Method::PUT, format!("/agents/{mine}/embed")),
    ];
    expect_anonymous_refused(&app, &anonymous, &Body::Json(embed)).await;
    // Nothing changed: the other account's settings, and mine, are still the defaults.
    for (by, agent) in [(&other, &theirs), (&admin, &mine)] {
        let (status, settings) = app.get(&format!("/agents/{agent}/embed"), &by.key).await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_eq!(
            settings,
            json!({"allowed_origins": [], "identity_verification": "optional"})
        );
    }
}
