//! The engines behind agents' answers: an OpenAI-compatible server for agents with a
//! model, and a 502 when the engine does not answer.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::conversations::{RETURNS, agent_with, say, say_streaming};
use crate::support::receiver::{Kind, Receiver};
use crate::support::{TestApp, assert_error};

#[tokio::test]
async fn an_openai_compatible_server_answers_for_agents_with_a_model() {
    let Some(llm) = Receiver::start(Kind::FakeLlm, "").await else {
        return;
    };
    let base = llm.url("/v1");
    let app = TestApp::with_flags(&["--llm-base-url", &base, "--llm-api-key", "sk-test-123"]).await;
    let admin = app.account("owner@example.com").await;
    let agent = agent_with(&app, &admin.key, "gpt-test").await;
    app.post(
        "/knowledge",
        &admin.key,
        json!({"agent_id": agent, "title": "Returns", "text": RETURNS}),
    )
    .await;
    let (status, first) = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "Can I make returns?"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["reply"]["content"],
        "[gpt-test] you said: Can I make returns?; context: true"
    );
    assert_eq!(first["reply"]["engine"], "openai");
    let conversation = first["conversation_id"].as_str().unwrap();
    say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "conversation_id": conversation, "message": "thanks"}),
    )
    .await;
    let calls = llm.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(calls[0]["path"], "/v1/chat/completions");
    assert_eq!(calls[0]["authorization"], "Bearer sk-test-123");
    assert_eq!(calls[0]["body"]["model"], "gpt-test");
    let system = calls[0]["body"]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("You help shoppers") && system.contains("30 days"),
        "{system}"
    );
    // The second call carries the conversation so far.
    let roles: Vec<&str> = calls[1]["body"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    // Streamed: the server's pieces pass through as they come, then the whole exchange.
    let body = json!({"agent_id": agent, "conversation_id": conversation, "message": "stream it"});
    let text = say_streaming(&app, &admin.key, body).await;
    let deltas: String = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("event: delta\ndata: "))
        .collect();
    let expected = "[gpt-test] you said: stream it; context: false ";
    assert_eq!(deltas, expected, "{text}");
    assert!(text.contains("event: done"), "{text}");
    let calls = llm.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(calls[2]["body"]["stream"], true);
    let (_, stored) = app
        .get(&format!("/conversations/{conversation}"), &admin.key)
        .await;
    assert_eq!(stored["messages"][5]["content"], expected);
    // The built-in model still answers without the server.
    let builtin = agent_with(&app, &admin.key, "builtin").await;
    let (_, local) = say(
        &app,
        &admin.key,
        json!({"agent_id": builtin, "message": "hello"}),
    )
    .await;
    assert_eq!(local["reply"]["engine"], "builtin");
    assert_eq!(llm.received().len(), 3);
}

#[tokio::test]
async fn an_engine_that_does_not_answer_is_a_502() {
    let app = TestApp::with_flags(&["--llm-base-url", "http://127.0.0.1:9/v1"]).await;
    let admin = app.account("owner@example.com").await;
    let agent = agent_with(&app, &admin.key, "gpt-test").await;
    let got = say(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "hello"}),
    )
    .await;
    assert_error(&got, StatusCode::BAD_GATEWAY, "engine_unavailable");
    // Streaming had already answered 200: the failure comes as an `error` event.
    let text = say_streaming(
        &app,
        &admin.key,
        json!({"agent_id": agent, "message": "hello"}),
    )
    .await;
    assert!(
        text.contains("event: error") && text.contains("engine_unavailable"),
        "{text}"
    );
    // Neither failure left a conversation behind.
    let (status, list) = app.get("/conversations", &admin.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"], json!([]), "{list}");
}
