//! The OpenAI-compatible engine: `POST {base}/chat/completions` with the agent's
//! model, its instructions and the best passages of its knowledge as the system
//! message, then the conversation.

use std::time::Duration;

use serde_json::{Value, json};

use super::builtin::retrieve;
use super::{Pieces, Prompt, Reply, ReplyFuture, Responder};
use crate::config::Secret;

const ENGINE: &str = "openai";
/// Passages given as context.
const CONTEXT_PASSAGES: usize = 3;
/// The longest one answer may take, streamed or not.
const WHOLE_ANSWER: Duration = Duration::from_secs(300);

pub struct OpenAi {
    http: reqwest::Client,
    base: String,
    key: Option<Secret>,
}

impl OpenAi {
    pub fn new(base: &str, key: Option<Secret>) -> anyhow::Result<OpenAi> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            // Between two reads: a long answer may stream for longer than this.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("thinnest/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(OpenAi {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        })
    }

    async fn messages(prompt: &Prompt<'_>) -> anyhow::Result<Vec<Value>> {
        let mut system = prompt.agent.instructions.clone();
        let found = retrieve(prompt).await?;
        if !found.is_empty() {
            system.push_str("\n\nAnswer from these passages of your knowledge when they help:");
            for (_, passage) in found.iter().take(CONTEXT_PASSAGES) {
                system.push_str(&format!("\n\n[{}]\n{}", passage.source, passage.text));
            }
        }
        let mut messages = vec![json!({"role": "system", "content": system})];
        messages.extend(
            prompt
                .history
                .iter()
                .map(|m| json!({"role": m.role, "content": m.content})),
        );
        messages.push(json!({"role": "user", "content": prompt.message}));
        Ok(messages)
    }

    async fn complete(
        &self,
        prompt: &Prompt<'_>,
        pieces: Option<Pieces<'_>>,
    ) -> anyhow::Result<Reply> {
        let mut request = self
            .http
            .post(format!("{}/chat/completions", self.base))
            .json(&json!({
                "model": prompt.agent.model,
                "messages": OpenAi::messages(prompt).await?,
                "stream": pieces.is_some(),
            }))
            .timeout(WHOLE_ANSWER);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| {
            anyhow::anyhow!(
                "the language model server did not answer: {}",
                e.without_url()
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("the language model server answered {status}");
        }
        if let Some(pieces) = pieces {
            return Ok(Reply {
                content: OpenAi::streamed(response, pieces).await?,
                engine: ENGINE,
            });
        }
        let body: Value = response.json().await.map_err(|e| {
            anyhow::anyhow!(
                "the language model server sent unreadable JSON: {}",
                e.without_url()
            )
        })?;
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the language model server sent no message"))?;
        Ok(Reply {
            content: content.to_owned(),
            engine: ENGINE,
        })
    }
}

impl OpenAi {
    /// Reads a streamed completion (server-sent events of `choices[0].delta.content`,
    /// ending with `[DONE]`), handing each piece on; returns the whole text.
    async fn streamed(response: reqwest::Response, pieces: Pieces<'_>) -> anyhow::Result<String> {
        use futures_util::StreamExt;
        let mut body = response.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        let mut content = String::new();
        'read: while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                anyhow::anyhow!(
                    "the language model server's stream broke: {}",
                    e.without_url()
                )
            })?;
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    break 'read;
                }
                let event: Value = serde_json::from_str(data)?;
                if let Some(piece) = event["choices"][0]["delta"]["content"].as_str() {
                    pieces(piece);
                    content.push_str(piece);
                }
            }
        }
        anyhow::ensure!(
            !content.is_empty(),
            "the language model server's stream ended without a message"
        );
        Ok(content)
    }
}

impl Responder for OpenAi {
    fn reply<'a>(&'a self, prompt: &'a Prompt<'a>, pieces: Option<Pieces<'a>>) -> ReplyFuture<'a> {
        Box::pin(self.complete(prompt, pieces))
    }
}
