//! How an agent answers: a small trait with two engines.
//!
//! - [`builtin::Builtin`], the default: no network, deterministic. It retrieves the
//!   passage of the agent's knowledge (and instructions) that best matches the
//!   message with BM25, and answers with it, or says it found nothing relevant.
//! - [`openai::OpenAi`]: any OpenAI-compatible chat completions server
//!   (`--llm-base-url`, `--llm-api-key`), with the model set per agent; the passages
//!   the built-in retrieval finds are given to it as context.

pub mod builtin;
pub mod openai;

use std::future::Future;
use std::pin::Pin;

use crate::domain::agents::Agent;
use crate::domain::conversations::Message;
use crate::domain::knowledge::Document;

/// What an engine gets to answer one message.
pub struct Prompt<'a> {
    pub agent: &'a Agent,
    pub knowledge: &'a [Document],
    /// Earlier messages of the conversation, oldest first.
    pub history: &'a [Message],
    pub message: &'a str,
}

/// An answer and which engine wrote it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub content: String,
    pub engine: &'static str,
}

pub type ReplyFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Reply>> + Send + 'a>>;

/// Where an engine hands pieces of its reply as they come, when the client streams.
pub type Pieces<'a> = &'a (dyn Fn(&str) + Send + Sync);

pub trait Responder: Send + Sync {
    /// The whole reply; with `pieces`, its text is also handed over piece by piece
    /// while it is being made.
    fn reply<'a>(&'a self, prompt: &'a Prompt<'a>, pieces: Option<Pieces<'a>>) -> ReplyFuture<'a>;
}

/// The engines this server has: the built-in one always, the other when configured.
pub struct Engines {
    pub builtin: builtin::Builtin,
    pub openai: Option<openai::OpenAi>,
}

impl Engines {
    /// The engine for an agent: its model `builtin` (the default) is the built-in
    /// engine; any other model goes to the OpenAI-compatible server, if one is set.
    pub fn for_agent(&self, agent: &Agent) -> &dyn Responder {
        match &self.openai {
            Some(openai) if agent.model != builtin::MODEL => openai,
            _ => &self.builtin,
        }
    }
}
