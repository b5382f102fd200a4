//! The messages between the page and the model worker, as serde types both
//! sides share. They cross `postMessage` as plain JS objects (serde-wasm-bindgen)
//! tagged by `type`, e.g. `{type: "load", url}` or `{type: "token", text, ...}`.

use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::engine::{GenerationSummary, Sampling};
use crate::steer::{Event as SteerEvent, RunConfig};

/// Page → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Fetch the GGUF at `url` (Cache API first) and load it.
    Load { url: String },
    /// Answer a chat; `messages` (multi-turn) wins over `user` (one turn).
    Generate(GenerateRequest),
    /// Run one steering method (`crate::steer::run`) on one user message;
    /// answered with `trace` events and, on success, a final `trace` `done`.
    Run(RunRequest),
    /// Stop the answer in progress after the current token.
    Cancel,
}

/// A steering run: the whole configuration (method, persona, weighted
/// experts, settings), validated by the engine before any compute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub config: RunConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateRequest {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    pub user: Option<String>,
    pub max_tokens: usize,
    pub sampling: Sampling,
}

/// One chat turn (`role` is "user" or "assistant").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage {
    pub role: String,
    pub content: String,
}

/// Worker → page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The worker's wasm is running and listening (messages sent earlier are lost).
    Alive,
    /// Model bytes received so far; `total` is None without a Content-Length.
    Progress {
        loaded: f64,
        total: Option<f64>,
        from_cache: bool,
    },
    /// The model is loaded. `cache` is "stored", "hit" or "memory-only (reason)".
    Ready {
        backend: String,
        load_ms: f64,
        cache: String,
        bytes: f64,
    },
    /// The prompt was tokenized; prefill starts.
    Started { prompt_tokens: usize },
    /// One generated token; `tokens_per_second` is the live decode rate so far.
    Token {
        index: usize,
        id: u32,
        text: String,
        logprob: f32,
        tokens_per_second: Option<f64>,
    },
    /// The answer finished (end of turn, max tokens, context full or cancelled).
    Done { summary: GenerationSummary },
    /// One event of a steering run (importance, token, chunk, done), as the
    /// engine emits it; `proposed_text` holds the decoded text of each
    /// proposed token of a `chunk` event (empty otherwise). A cancelled run
    /// ends with a `done` whose `stop_reason` is "cancelled".
    Trace {
        event: SteerEvent,
        #[serde(default)]
        proposed_text: Vec<String>,
    },
    /// Something failed; `kind` is a short code ("invalid_input", "model_fetch",
    /// "busy", "panic", ...) and `message` says what happened.
    Error { kind: String, message: String },
}

impl Command {
    pub fn to_js(&self) -> Result<JsValue, String> {
        serde_wasm_bindgen::to_value(self).map_err(|e| e.to_string())
    }

    pub fn from_js(value: JsValue) -> Result<Self, String> {
        serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
    }
}

impl Event {
    pub fn error(kind: &str, message: impl Into<String>) -> Self {
        Event::Error {
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    pub fn to_js(&self) -> Result<JsValue, String> {
        serde_wasm_bindgen::to_value(self).map_err(|e| e.to_string())
    }

    pub fn from_js(value: JsValue) -> Result<Self, String> {
        serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
    }
}
