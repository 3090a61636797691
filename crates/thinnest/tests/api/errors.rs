use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_error, read, send};

/// The OpenAPI document, fetched without credentials.
async fn openapi(app: &TestApp) -> Value {
    let (status, doc) = send(app.request(Method::GET, "/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

/// Every route of the API, with a method, as the OpenAPI document lists them.
async fn routes(app: &TestApp) -> Vec<(Method, String)> {
    let doc = openapi(app).await;
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", "agent_00000000000000000000000000000000");
            out.push((method.to_uppercase().parse().unwrap(), concrete));
        }
    }
    out
}

#[tokio::test]
async fn every_authenticated_endpoint_refuses_a_request_without_credentials() {
    // More routes than the failed-authentication guard allows a client per minute.
    let app = TestApp::with_flags(&["--auth-failure-limit", "1000"]).await;
    let public = ["/health", "/health/live", "/openapi.json", "/embed.js"];
    let routes = routes(&app).await;
    assert!(routes.len() >= 9, "{routes:?}");
    for (method, path) in routes {
        let response = app.request(method.clone(), &path).send().await.unwrap();
        if public.contains(&path.as_str()) {
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            continue;
        }
        if path.starts_with("/widget/") {
            // The widget's own checks: an origin, then a session (tests/api/widget.rs).
            assert!(response.status().is_client_error(), "{path}");
            continue;
        }
        let got = read(response).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_names_every_endpoint_and_the_bearer_scheme() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/agents",
        "/agents/{id}",
        "/api-keys",
        "/api-keys/{id}",
        "/api-keys/{id}/rotate",
        "/health",
        "/openapi.json",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
    // Every scheme an operation names is declared, every response is described, and
    // operation ids are unique.
    let declared = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(ids.insert(id.to_owned()), "{method} {path}: {id} again");
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    response.get("description").is_some_and(|d| d.is_string()),
                    "{method} {path} {status} has no description"
                );
            }
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(
                        declared.contains_key(scheme),
                        "{method} {path} names {scheme}"
                    );
                }
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["widget_session"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_unreadable_bodies_answer_in_json() {
    let app = TestApp::spawn().await;
    let admin = app.account("a@example.com").await;
    let request = |method: Method, path: &str| app.request(method, path).bearer_auth(&admin.key);

    assert_error(
        &send(request(Method::GET, "/nope")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &send(request(Method::PUT, "/agents")).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    // Over our 1 MiB limit, under axum's own default of 2 MiB.
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 19));
    let bodies = [
        (
            "application/json",
            "{\"name\": ".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "text/plain",
            "name=x".to_owned(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "application/json",
            huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (content_type, body, status, code) in bodies {
        let post = request(Method::POST, "/agents")
            .header("content-type", content_type)
            .body(body);
        assert_error(&send(post).await, status, code);
    }
}

#[tokio::test]
async fn health_answers_without_credentials_and_every_response_has_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/health").send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["key_cache"], "live");
    let live = app
        .request(Method::GET, "/health/live")
        .send()
        .await
        .unwrap();
    assert!(live.headers().contains_key("x-request-id"));
    assert_eq!(read(live).await, (StatusCode::OK, json!({"status": "ok"})));
    let missing = app.request(Method::GET, "/agents").send().await.unwrap();
    assert!(missing.headers().contains_key("x-request-id"));
    let plain = app.plain(Method::GET, "/agents").send().await.unwrap();
    assert!(plain.headers().contains_key("x-request-id"));
    let _: Value = plain.json().await.unwrap();
    // A caller's id is kept when it is one short token, and replaced otherwise.
    for (sent, kept) in [
        ("trace-01:ab/c+d=", true),
        ("two words", false),
        ("x\"y", false),
        (&"a".repeat(129), false),
    ] {
        let response = app
            .request(Method::GET, "/health/live")
            .header("x-request-id", sent)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id == sent, kept, "{sent:?} answered with id {id:?}");
        assert!(!id.is_empty() && !id.contains(' '));
    }
}

#[tokio::test]
async fn the_openapi_document_lists_every_webhook_event_type() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let event = &doc["components"]["schemas"]["WebhookEvent"];
    let text = event.to_string();
    for kind in [
        "webhook.test",
        "agent.created",
        "agent.updated",
        "agent.deleted",
        "api_key.created",
        "api_key.revoked",
        "member.invited",
        "member.joined",
        "member.removed",
        "conversation.message.completed",
        "conversation.ended",
    ] {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} in {event:#}");
    }
    assert_eq!(event["example"]["type"], "agent.deleted", "{event:#}");
}

#[tokio::test]
async fn docs_render_the_openapi_document_as_a_reference_from_this_server() {
    let app = TestApp::spawn().await;
    let page = app.request(Method::GET, "/docs").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    let body = page.text().await.unwrap();
    for words in [
        "<code>POST /agents</code> Create an agent.",
        "<code>POST /widget/messages</code>",
        "The token `POST /widget/sessions` returned",
        "id=\"schema-ErrorBody\"",
    ] {
        assert!(body.contains(words), "{words}");
    }
    // Nothing is loaded from another host.
    assert!(!body.contains("src=\"http") && !body.contains("href=\"http"));
}
