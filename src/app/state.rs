//! The page's state as signals: the conversation, the model loading status,
//! the answer in progress, the error banner and the settings. One `AppState`
//! (all `Copy` handles) is provided as context to every component.

use leptos::prelude::*;

use crate::engine::StopReason;
use crate::worker::protocol::WireMessage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// How an answer ended, with its speed (shown under the answer).
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerStats {
    pub tokens: usize,
    pub tokens_per_second: f64,
    pub prefill_tokens_per_second: f64,
    pub prompt_tokens: usize,
    pub stop: StopReason,
}

/// One message of the conversation. `text` grows token by token.
#[derive(Debug, Clone)]
pub struct Turn {
    pub id: u64,
    pub role: Role,
    pub text: ArcRwSignal<String>,
    /// Set when the answer is finished (assistant turns only).
    pub stats: ArcRwSignal<Option<AnswerStats>>,
    /// Live decode speed while streaming.
    pub live_tps: ArcRwSignal<Option<f64>>,
    pub streaming: ArcRwSignal<bool>,
}

impl Turn {
    pub fn new(id: u64, role: Role, text: &str) -> Self {
        Self {
            id,
            role,
            text: ArcRwSignal::new(text.to_string()),
            stats: ArcRwSignal::new(None),
            live_tps: ArcRwSignal::new(None),
            streaming: ArcRwSignal::new(false),
        }
    }

    pub fn wire(&self) -> WireMessage {
        WireMessage {
            role: self.role.as_str().to_string(),
            content: self.text.get_untracked(),
        }
    }
}

/// The model's loading status.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadStatus {
    /// The worker is starting.
    Starting,
    Downloading {
        loaded: f64,
        total: Option<f64>,
        from_cache: bool,
        started_ms: f64,
    },
    /// All bytes are in; the worker is parsing the GGUF and preparing weights.
    Preparing {
        from_cache: bool,
    },
    Ready {
        backend: String,
        load_ms: f64,
        cache: String,
        bytes: f64,
    },
    Failed,
}

impl LoadStatus {
    pub fn is_ready(&self) -> bool {
        matches!(self, LoadStatus::Ready { .. })
    }
}

/// The answer being generated, if any.
#[derive(Debug, Clone, PartialEq)]
pub enum GenStatus {
    Idle,
    /// Sent; waiting for the prompt to be processed.
    Prefill {
        prompt_tokens: Option<usize>,
    },
    Streaming,
    /// Cancel pressed; waiting for the worker to stop.
    Cancelling,
}

impl GenStatus {
    pub fn is_busy(&self) -> bool {
        !matches!(self, GenStatus::Idle)
    }
}

/// The visible error: what happened and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Banner {
    pub kind: String,
    pub title: String,
    pub message: String,
    pub hint: String,
}

/// Sampling and length settings, as typed (validated on send).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub system: RwSignal<String>,
    pub greedy: RwSignal<bool>,
    pub temperature: RwSignal<String>,
    pub top_p: RwSignal<String>,
    pub seed: RwSignal<String>,
    pub max_tokens: RwSignal<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct AppState {
    pub turns: RwSignal<Vec<Turn>>,
    pub load: RwSignal<LoadStatus>,
    pub generation: RwSignal<GenStatus>,
    pub banner: RwSignal<Option<Banner>>,
    pub draft: RwSignal<String>,
    pub settings: Settings,
    next_id: StoredValue<u64>,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            turns: RwSignal::new(Vec::new()),
            load: RwSignal::new(LoadStatus::Starting),
            generation: RwSignal::new(GenStatus::Idle),
            banner: RwSignal::new(None),
            draft: RwSignal::new(String::new()),
            settings: Settings {
                system: RwSignal::new(String::new()),
                greedy: RwSignal::new(true),
                temperature: RwSignal::new("0.7".into()),
                top_p: RwSignal::new("0.9".into()),
                seed: RwSignal::new("42".into()),
                max_tokens: RwSignal::new("256".into()),
            },
            next_id: StoredValue::new(0),
        }
    }

    pub fn fresh_id(&self) -> u64 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        id
    }

    /// The assistant turn being written, if any.
    pub fn streaming_turn(&self) -> Option<Turn> {
        self.turns.with_untracked(|turns| {
            turns
                .last()
                .filter(|t| t.role == Role::Assistant && t.streaming.get_untracked())
                .cloned()
        })
    }

    pub fn show_error(&self, kind: &str, message: &str) {
        self.banner
            .set(Some(super::banner::describe(kind, message)));
    }
}

impl Default for AppState {
    fn default() -> Self {
        Self::new()
    }
}
