//! The page's state as signals: the conversation, the model loading status,
//! the answer in progress, the error banner and the settings. One `AppState`
//! (all `Copy` handles) is provided as context to every component.

use leptos::prelude::*;

use crate::engine::StopReason;
use crate::steer::events::Alternative;
use crate::steer::{Method, RunStats};
use crate::worker::protocol::WireMessage;

/// One emitted token of a steered answer, as the trace described it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub index: usize,
    pub text: String,
    pub reward: Option<f64>,
    pub rewards: Vec<f64>,
    pub top: Vec<Alternative>,
    pub chunk: Option<usize>,
}

/// PDD's importance pass (PIE).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceInfo {
    pub attributes: Vec<String>,
    pub raw: Vec<f64>,
    pub weights: Vec<f64>,
    pub selected: Vec<usize>,
}

/// One SCR chunk decision, with the proposed tokens spelled out.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkInfo {
    pub index: usize,
    pub texts: Vec<String>,
    pub accepted: usize,
    pub fallback: bool,
    pub forced: bool,
    pub log_m: f64,
}

/// The trace of a steered answer (every method but the plain chat).
#[derive(Debug, Clone)]
pub struct SteerTrace {
    pub method: Method,
    /// Names of the per-expert rewards (expert methods), in order.
    pub experts: Vec<String>,
    pub tokens: ArcRwSignal<Vec<TokenInfo>>,
    pub importance: ArcRwSignal<Option<ImportanceInfo>>,
    pub chunks: ArcRwSignal<Vec<ChunkInfo>>,
    pub stats: ArcRwSignal<Option<RunStats>>,
    /// When the first token arrived (ms), for the live rate.
    pub first_ms: ArcRwSignal<Option<f64>>,
    /// The token whose tooltip is open: (index, its left and top in px in
    /// the bubble); the tooltip opens above it.
    pub hover: ArcRwSignal<Option<(usize, f64, f64)>>,
}

impl SteerTrace {
    pub fn new(method: Method, experts: Vec<String>) -> Self {
        Self {
            method,
            experts,
            tokens: ArcRwSignal::new(Vec::new()),
            importance: ArcRwSignal::new(None),
            chunks: ArcRwSignal::new(Vec::new()),
            stats: ArcRwSignal::new(None),
            first_ms: ArcRwSignal::new(None),
            hover: ArcRwSignal::new(None),
        }
    }
}

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
    /// Set for answers of a steering method (not the plain chat).
    pub steer: Option<SteerTrace>,
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
            steer: None,
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
    /// The decoding method; `Base` is the plain multi-turn chat.
    pub method: RwSignal<Method>,
    /// Index into `Persona::builtin()` (PP, PDD).
    pub persona: RwSignal<usize>,
    /// α per prompt expert, in `builtin_experts()` order (SCR, MOD, RS).
    pub alphas: RwSignal<Vec<f64>>,
    /// SCR chunk size k, PDD's β and top-K, as typed.
    pub k: RwSignal<String>,
    pub beta: RwSignal<String>,
    pub top_k: RwSignal<String>,
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
                method: RwSignal::new(Method::Base),
                persona: RwSignal::new(0),
                alphas: RwSignal::new(super::methods::default_alphas()),
                k: RwSignal::new("4".into()),
                beta: RwSignal::new("1.0".into()),
                top_k: RwSignal::new("2".into()),
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
