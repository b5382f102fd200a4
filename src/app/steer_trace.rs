//! A steered answer as the page holds it: the run's configuration, every
//! engine event (kept for export), and what is drawn from them (tokens with
//! rewards, PDD importance, SCR chunks, statistics). Live runs and imported
//! trace files go through the same [`SteerTrace::apply`].

use std::sync::{Arc, Mutex};

use leptos::prelude::*;

use crate::page_data::lane::Lane;
use crate::steer::events::Alternative;
use crate::steer::{Event as SteerEvent, Method, RunConfig, RunStats};

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

/// One SCR chunk decision, with the proposed tokens spelled out (`#id`
/// where the text is unknown).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkInfo {
    pub index: usize,
    pub texts: Vec<String>,
    pub accepted: usize,
    pub fallback: bool,
    pub forced: bool,
    pub log_m: f64,
}

/// Where a trace came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    Live,
    /// Replayed from a trace file (its name).
    File(String),
}

/// The trace of a steered answer (every method but the plain chat).
#[derive(Debug, Clone)]
pub struct SteerTrace {
    pub lane: Lane,
    pub origin: Origin,
    pub config: Arc<RunConfig>,
    /// Names of the per-expert rewards (expert methods), in order.
    pub experts: Vec<String>,
    /// Every engine event, in order (the trace file's `events`).
    pub events: Arc<Mutex<Vec<SteerEvent>>>,
    pub text: ArcRwSignal<String>,
    pub tokens: ArcRwSignal<Vec<TokenInfo>>,
    pub importance: ArcRwSignal<Option<ImportanceInfo>>,
    pub chunks: ArcRwSignal<Vec<ChunkInfo>>,
    pub stats: ArcRwSignal<Option<RunStats>>,
    pub streaming: ArcRwSignal<bool>,
    /// When the first token arrived (ms), for the live rate.
    pub first_ms: ArcRwSignal<Option<f64>>,
    /// The worker's time from the end of the prompts' prefill to the end
    /// of the run (ms), for the decode-only rate.
    pub decode_ms: ArcRwSignal<Option<f64>>,
    /// The token whose tooltip is open: (index, its left and top in px in
    /// the bubble); the tooltip opens above it.
    pub hover: ArcRwSignal<Option<(usize, f64, f64)>>,
    /// The backend that wrote a live answer ("WebGPU (SwiftShader)"), set
    /// when it finishes.
    pub backend: ArcRwSignal<Option<String>>,
}

impl SteerTrace {
    pub fn new(lane: Lane, origin: Origin, config: RunConfig, experts: Vec<String>) -> Self {
        let streaming = origin == Origin::Live;
        Self {
            lane,
            origin,
            config: Arc::new(config),
            experts,
            events: Arc::new(Mutex::new(Vec::new())),
            text: ArcRwSignal::new(String::new()),
            tokens: ArcRwSignal::new(Vec::new()),
            importance: ArcRwSignal::new(None),
            chunks: ArcRwSignal::new(Vec::new()),
            stats: ArcRwSignal::new(None),
            streaming: ArcRwSignal::new(streaming),
            first_ms: ArcRwSignal::new(None),
            decode_ms: ArcRwSignal::new(None),
            hover: ArcRwSignal::new(None),
            backend: ArcRwSignal::new(None),
        }
    }

    /// Forgets everything drawn so far: the worker writes the answer again
    /// from its start (on the CPU, after the GPU was lost).
    pub fn restart(&self) {
        if let Ok(mut all) = self.events.lock() {
            all.clear();
        }
        self.text.set(String::new());
        self.tokens.set(Vec::new());
        self.importance.set(None);
        self.chunks.set(Vec::new());
        self.stats.set(None);
        self.first_ms.set(None);
        self.decode_ms.set(None);
        self.hover.set(None);
        self.streaming.set(true);
    }

    pub fn method(&self) -> Method {
        self.config.method
    }

    /// Every event so far (for export).
    pub fn events(&self) -> Vec<SteerEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Draws one engine event; `proposed_text` spells out a chunk's proposed
    /// tokens. Returns true for the final `done`.
    pub fn apply(&self, event: SteerEvent, proposed_text: Vec<String>) -> bool {
        if let Ok(mut all) = self.events.lock() {
            all.push(event.clone());
        }
        let live = self.origin == Origin::Live;
        match event {
            SteerEvent::Importance {
                attributes,
                raw,
                weights,
                selected,
                ..
            } => self.importance.set(Some(ImportanceInfo {
                attributes,
                raw,
                weights,
                selected,
            })),
            SteerEvent::Token {
                index,
                text,
                reward,
                rewards,
                top,
                chunk,
                ..
            } => {
                if live && self.first_ms.with_untracked(Option::is_none) {
                    self.first_ms.set(Some(js_sys::Date::now()));
                }
                if !text.is_empty() {
                    self.text.update(|t| t.push_str(&text));
                }
                self.tokens.update(|v| {
                    v.push(TokenInfo {
                        index,
                        text,
                        reward,
                        rewards,
                        top,
                        chunk,
                    })
                });
            }
            SteerEvent::Chunk {
                index,
                proposed,
                accepted,
                log_m,
                fallback,
                forced,
                ..
            } => {
                let texts = proposed
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        proposed_text
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| format!("#{id}"))
                    })
                    .collect();
                self.chunks.update(|c| {
                    c.push(ChunkInfo {
                        index,
                        texts,
                        accepted,
                        fallback,
                        forced,
                        log_m,
                    })
                });
            }
            SteerEvent::Done { stats } => {
                self.stats.set(Some(stats));
                self.streaming.set(false);
                return true;
            }
        }
        false
    }

    /// Decode-only tokens/s: the tokens over the time after the prefill
    /// (live runs; PDD's PIE pass counts as decoding).
    pub fn decode_rate(&self) -> Option<f64> {
        let n = self.tokens.with_untracked(Vec::len);
        let ms = self.decode_ms.get_untracked()?;
        (n > 0 && ms > 0.0).then(|| n as f64 * 1000.0 / ms)
    }

    /// The proposed texts of every chunk (the trace file's `chunk_text`).
    pub fn chunk_texts(&self) -> Vec<Vec<String>> {
        self.chunks
            .with_untracked(|c| c.iter().map(|c| c.texts.clone()).collect())
    }
}
