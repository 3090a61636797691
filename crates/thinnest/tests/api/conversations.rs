//! Conversations with agents, the knowledge they answer from, and both engines.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::receiver::{Kind, Receiver};
use crate::support::{TestApp, assert_error, send};

pub(crate) const RETURNS: &str = "Our returns policy.\n\nReturns are accepted within 30 days of delivery, \
    with the receipt. Refunds reach your card within 5 working days.\n\nShipping is free above 50 euros.";

pub(crate) async fn agent_with(app: &TestApp, key: &str, model: &str) -> String {
    let (status, agent) = app
        .post(
            "/agents",
            key,
            json!({"name": "Helper", "instructions": "You help shoppers of the Example shop.",
                   "first_message": "Hello! Ask me about orders.", "model": model}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    agent["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn say(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    app.post("/conversations", key, body).await
}

/// The same, asking for server-sent events; returns the raw event stream.
pub(crate) async fn say_streaming(app: &TestApp, key: &str, body: Value) -> String {
    let response = app
        .request(Method::POST, "/conversations")
        .bearer_auth(key)
        .header("accept", "text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    response.text().await.unwrap()
}

/// Uploads a file to an agent's knowledge as multipart.
pub(crate) async fn upload(
    app: &TestApp,
    key: &str,
    agent: &str,
    name: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .text("agent_id", agent.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
        );
    send(
        app.request(Method::POST, "/knowledge")
            .bearer_auth(key)
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn the_builtin_engine_answers_from_an_uploaded_document() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let agent = agent_with(&app, &admin.key, "builtin").await;

    // A document as JSON, and one uploaded as a Markdown file.
    let (status, doc) = app
        .post(
            "/knowledge",
            &admin.key,
            json!({"agent_id": agent, "title": "Returns", "text": RETURNS}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let hours = "# Opening hours — café\n\nThe shop opens at 9 and closes at 18 on weekdays.";
    let uploaded = upload(&app, &admin.key, &agent, "hours.md", hours.as_bytes()).await;
    assert_eq!(uploaded.0, StatusCode::CREATED, "{}", uploaded.1);
    assert_eq!(uploaded.1["title"], "hours.md");
    // Sizes are in bytes, not characters.
    assert_eq!(doc["bytes"], RETURNS.len());
    assert_eq!(uploaded.1["bytes"], hours.len());
    let (_, list) = app
        .get(&format!("/knowledge?agent_id={agent}"), &admin.key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert_eq!(list["data"][0]["bytes"], RETURNS.len());
    assert_eq!(list["data"][1]["bytes"], hours.len());

    let (status, first) = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "How many days do I have for returns?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let reply = first["reply"]["content"].as_str().unwrap();
    assert!(reply.contains("30 days"), "{reply}");
    assert_eq!(first["reply"]["engine"], "builtin");
    assert_eq!(first["reply"]["role"], "assistant");
    let conversation = first["conversation_id"].as_str().unwrap().to_owned();

    let (_, hours) = say(&app, &admin.key, json!({"agent_id": agent, "conversation_id": conversation, "message": "When does the shop close?"})).await;
    assert!(
        hours["reply"]["content"].as_str().unwrap().contains("18"),
        "{hours}"
    );
    assert_eq!(hours["conversation_id"], conversation.as_str());
    let (_, nothing) = say(&app, &admin.key, json!({"agent_id": agent, "conversation_id": conversation, "message": "Do you sell bicycles?"})).await;
    assert!(
        nothing["reply"]["content"]
            .as_str()
            .unwrap()
            .contains("found nothing"),
        "{nothing}"
    );

    // Server-sent events on request.
    let text = say_streaming(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "refunds card"}),
    )
    .await;
    assert!(
        text.contains("event: delta") && text.contains("event: done"),
        "{text}"
    );
    assert!(text.contains("5 working days"), "{text}");

    let (_, listed) = app
        .get(&format!("/conversations?agent_id={agent}"), &admin.key)
        .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");
    let (_, detail) = app
        .get(&format!("/conversations/{conversation}"), &admin.key)
        .await;
    let roles: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
    assert_eq!(detail["channel"], "api");

    // Deleting the document takes its answers away.
    let id = doc["id"].as_str().unwrap();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/knowledge/{id}"),
            &admin.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, gone) = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "returns within days"}),
    )
    .await;
    assert!(
        !gone["reply"]["content"]
            .as_str()
            .unwrap()
            .contains("30 days"),
        "{gone}"
    );
}

#[tokio::test]
async fn conversations_and_knowledge_check_roles_accounts_and_input() {
    let app = TestApp::spawn().await;
    let admin = app.account("owner@example.com").await;
    let agent = agent_with(&app, &admin.key, "builtin").await;
    let (_, started) = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "hi"}),
    )
    .await;
    let conversation = started["conversation_id"].as_str().unwrap().to_owned();

    // No key.
    for (method, path) in [
        (Method::POST, "/conversations".to_owned()),
        (Method::GET, "/conversations".to_owned()),
        (Method::GET, format!("/conversations/{conversation}")),
        (Method::POST, "/knowledge".to_owned()),
        (Method::GET, format!("/knowledge?agent_id={agent}")),
    ] {
        assert_error(
            &send(app.request(method, &path)).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
    }
    // Another account sees none of it.
    let other = app.account("other@example.com").await;
    assert_error(
        &app.get(&format!("/conversations?agent_id={agent}"), &other.key)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get(&format!("/conversations/{conversation}"), &other.key)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &say(
            &app,
            &other.key,
            json!({"agent_id": agent, "message": "hi"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &say(
            &app,
            &other.key,
            json!({"agent_id": agent, "message": "hi", "conversation_id": conversation}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post(
            "/knowledge",
            &other.key,
            json!({"agent_id": agent, "title": "x", "text": "y"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, theirs) = app.get("/conversations", &other.key).await;
    assert_eq!(theirs["data"], json!([]));
    // A Viewer reads but does not talk or upload.
    let viewer = app.key_with_role(&admin, "viewer").await;
    assert_eq!(
        app.get(&format!("/conversations/{conversation}"), &viewer.key)
            .await
            .0,
        StatusCode::OK
    );
    assert_error(
        &say(
            &app,
            &viewer.key,
            json!({"agent_id": agent, "message": "hi"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(
            "/knowledge",
            &viewer.key,
            json!({"agent_id": agent, "title": "x", "text": "y"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // Bad input.
    assert_error(
        &say(&app, &admin.key, json!({"agent_id": agent, "message": ""})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_error(
        &say(
            &app,
            &admin.key,
            json!({"agent_id": agent, "message": "x".repeat(4001)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_error(
        &say(&app, &admin.key, json!({"agent": agent})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    assert_error(
        &app.get("/conversations?agent_id=nope", &admin.key).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    );
    let big = json!({"agent_id": agent, "title": "big", "text": "x".repeat(600 * 1024)});
    assert_error(
        &app.post("/knowledge", &admin.key, big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let refused = upload(&app, &admin.key, &agent, "a.pdf", b"%PDF").await;
    assert_error(
        &refused,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let refused = upload(&app, &admin.key, &agent, "a.json", b"{not json").await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "bad_request");
    // An agent holds at most 2 MiB of text: four full documents, and not one more letter.
    let capped = agent_with(&app, &admin.key, "builtin").await;
    for _ in 0..4 {
        let full = json!({"agent_id": capped, "title": "full", "text": "x".repeat(512 * 1024)});
        let (status, body) = app.post("/knowledge", &admin.key, full).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let one_more = json!({"agent_id": capped, "title": "more", "text": "y"});
    assert_error(
        &app.post("/knowledge", &admin.key, one_more).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // Compact JSON within the limit is kept, even where laid out it would not fit.
    let compact = format!("[{}1]", "1,".repeat(200_000));
    let (status, kept) = upload(&app, &admin.key, &agent, "n.json", compact.as_bytes()).await;
    assert_eq!(status, StatusCode::CREATED, "{kept}");

    // Ending and deleting a document: not another account's, not by a Viewer.
    let (_, doc) = app
        .post(
            "/knowledge",
            &admin.key,
            json!({"agent_id": agent, "title": "t", "text": "words"}),
        )
        .await;
    let doc_path = format!("/knowledge/{}", doc["id"].as_str().unwrap());
    let path = format!("/conversations/{conversation}/end");
    for key in [&other.key, &viewer.key] {
        let expected = if *key == other.key {
            (StatusCode::NOT_FOUND, "not_found")
        } else {
            (StatusCode::FORBIDDEN, "forbidden")
        };
        assert_error(
            &app.post(&path, key, json!({})).await,
            expected.0,
            expected.1,
        );
        let deleted = app.call(Method::DELETE, &doc_path, key, None).await;
        assert_error(&deleted, expected.0, expected.1);
    }
    let unknown = app
        .call(Method::DELETE, "/knowledge/nope", &admin.key, None)
        .await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    // Ending: once, then no more messages.
    let (status, ended) = app.post(&path, &admin.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert!(ended["ended_at"].is_string());
    let after = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "hi", "conversation_id": conversation}),
    )
    .await;
    assert_error(&after, StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn conversation_events_reach_webhooks() {
    let app = TestApp::with_flags(&["--allow-private-webhook-targets"]).await;
    let admin = app.account("owner@example.com").await;
    let (_, secret) = app.get("/webhooks/signing-secret", &admin.key).await;
    let Some(receiver) =
        Receiver::start(Kind::PythonStdlib, secret["secret"].as_str().unwrap()).await
    else {
        return;
    };
    let hook = json!({"url": receiver.url("/c"), "events": ["conversation.message.completed", "conversation.ended"]});
    assert_eq!(
        app.post("/webhooks", &admin.key, hook).await.0,
        StatusCode::CREATED
    );
    let agent = agent_with(&app, &admin.key, "builtin").await;
    let (_, started) = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "hello there"}),
    )
    .await;
    let conversation = started["conversation_id"].as_str().unwrap();
    app.post(
        &format!("/conversations/{conversation}/end"),
        &admin.key,
        json!({}),
    )
    .await;
    let got = receiver.wait_for(2, Duration::from_secs(20)).await;
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    let completed = bodies
        .iter()
        .find(|b| b["type"] == "conversation.message.completed")
        .unwrap();
    assert_eq!(completed["data"]["conversation_id"], conversation);
    assert_eq!(completed["data"]["message"], "hello there");
    assert_eq!(completed["data"]["channel"], "api");
    assert_eq!(completed["data"]["engine"], "builtin");
    let ended = bodies
        .iter()
        .find(|b| b["type"] == "conversation.ended")
        .unwrap();
    assert_eq!(ended["data"]["agent_id"], agent.as_str());
    assert!(got.iter().all(|r| r["verified"] == true));
}
