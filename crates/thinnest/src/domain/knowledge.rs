//! Knowledge: the documents an agent answers from, and their limits.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::fields::Check;
use crate::domain::ids::{AgentId, KnowledgeId};

/// The largest document: 512 KiB of text.
pub const MAX_TEXT_BYTES: usize = 512 * 1024;
/// All of one agent's documents together, in characters: every answer reads them.
pub const MAX_AGENT_CHARS: i64 = 2 * 1024 * 1024;
/// The longest title.
pub const MAX_TITLE: usize = 200;

// A document, as listed: its size instead of its text. (No doc comment: it would
// become the schema's description in the OpenAPI document.)
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Knowledge {
    /// `kn_…`
    #[schema(value_type = String)]
    pub id: KnowledgeId,
    #[schema(value_type = String)]
    pub agent_id: AgentId,
    pub title: String,
    /// Size of the text in bytes.
    pub bytes: usize,
    pub created_at: String,
}

/// A document, as an engine reads it.
#[derive(Debug, Clone)]
pub struct Document {
    pub id: KnowledgeId,
    pub title: String,
    pub text: String,
}

/// Checks a document's title and text.
pub fn check_document(check: &mut Check, title: &str, text: &str) {
    check.text("title", title, 1, MAX_TITLE);
    check.text("text", text, 1, MAX_TEXT_BYTES);
}
