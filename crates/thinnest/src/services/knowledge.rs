//! Adding documents to an agent's knowledge: what the API and the dashboard share.

use axum::http::StatusCode;

use crate::domain::fields::Check;
use crate::domain::knowledge::{Knowledge, MAX_AGENT_CHARS, MAX_TEXT_BYTES, check_document};
use crate::error::{Error, Result};
use crate::services::agents::find_agent;
use crate::state::AppState;

/// 413: one document holds too much text.
pub fn too_large() -> Error {
    Error::coded(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("A document may hold at most {MAX_TEXT_BYTES} bytes of text."),
    )
}

/// 400 with what could not be read.
pub fn unreadable(message: impl Into<String>) -> Error {
    Error::coded(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The text of an uploaded file: `.txt` and `.md` as they are, `.json` laid out one
/// field per line (which reads better in passages) unless that would take it over
/// the limit.
pub fn file_text(file_name: &str, bytes: &[u8]) -> Result<String> {
    if bytes.len() > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    let lower = file_name.to_ascii_lowercase();
    let raw =
        String::from_utf8(bytes.to_vec()).map_err(|_| unreadable("The file is not UTF-8 text."))?;
    if lower.ends_with(".json") {
        let value: serde_json::Value = serde_json::from_str(&raw)
            .map_err(|e| unreadable(format!("The file is not valid JSON: {e}")))?;
        let pretty = serde_json::to_string_pretty(&value).map_err(anyhow::Error::from)?;
        Ok(if pretty.len() <= MAX_TEXT_BYTES {
            pretty
        } else {
            raw
        })
    } else if lower.ends_with(".txt") || lower.ends_with(".md") {
        Ok(raw)
    } else {
        Err(Error::coded(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Upload a .txt, .md or .json file.",
        ))
    }
}

/// Adds a document to the account's agent `agent_id`, within the limits of one
/// document and of all the agent's documents together.
pub async fn add(
    state: &AppState,
    account_id: &str,
    agent_id: &str,
    title: &str,
    text: &str,
) -> Result<Knowledge> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(too_large());
    }
    let mut check = Check::new();
    check_document(&mut check, title, text);
    check.finish()?;
    let agent = find_agent(state, account_id, agent_id).await?;
    state
        .store
        .add_knowledge(account_id, &agent.id, title.trim(), text, MAX_AGENT_CHARS)
        .await?
        .ok_or_else(|| {
            Error::coded(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "This agent's documents would exceed 2 MiB of text together; delete some first.",
            )
        })
}
