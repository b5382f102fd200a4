//! The page's end of the model worker: starts it, sends commands, turns its
//! events into state changes, and replaces it when it dies (a panic or an
//! uncaught error), up to a few times a minute. Events from a replaced
//! worker are ignored (each worker has an epoch).

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::conversation::{near_bottom, scroll_log_to_end};
use super::state::{
    AnswerStats, AppState, ChunkInfo, GenStatus, ImportanceInfo, LoadStatus, Role, TokenInfo,
};
use crate::engine::GenerationSummary;
use crate::steer::Event as SteerEvent;
use crate::worker::protocol::{Command, Event};

/// The model, relative to the page; `?model=<url>` overrides it.
pub const DEFAULT_MODEL_PATH: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
/// The worker's loader script written by Trunk (`data-loader-shim`).
const WORKER_SCRIPT: &str = "worker_loader.js";
/// More crashes than this within `CRASH_WINDOW_MS` and we stop restarting.
const MAX_CRASHES: usize = 3;
const CRASH_WINDOW_MS: f64 = 60_000.0;
/// A worker that has not said `alive` by then counts as crashed.
const START_TIMEOUT: Duration = Duration::from_secs(30);

struct Connection {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// A `Copy` handle to the worker connection.
#[derive(Clone, Copy)]
pub struct Client {
    state: AppState,
    connection: StoredValue<Option<Connection>, LocalStorage>,
    epoch: StoredValue<u32>,
    /// Whether the current worker has said `alive`.
    alive: StoredValue<bool>,
    crashes: StoredValue<Vec<f64>>,
    model_url: StoredValue<String>,
}

impl Client {
    /// Starts the worker; it loads the model as soon as it is alive.
    pub fn start(state: AppState) -> Self {
        let client = Self {
            state,
            connection: StoredValue::new_local(None),
            epoch: StoredValue::new(0),
            alive: StoredValue::new(false),
            crashes: StoredValue::new(Vec::new()),
            model_url: StoredValue::new(model_url()),
        };
        client.spawn();
        client
    }

    fn spawn(self) {
        let epoch = self.epoch.get_value() + 1;
        self.epoch.set_value(epoch);
        self.alive.set_value(false);
        self.state.load.set(LoadStatus::Starting);
        let worker = match Worker::new(WORKER_SCRIPT) {
            Ok(w) => w,
            Err(e) => {
                self.state.load.set(LoadStatus::Failed);
                self.state.show_error(
                    "worker_gave_up",
                    &format!("the browser refused to start the model worker: {e:?}"),
                );
                return;
            }
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |msg: MessageEvent| {
            if self.epoch.get_value() != epoch {
                return;
            }
            match Event::from_js(msg.data()) {
                Ok(event) => self.on_event(event),
                Err(e) => web_sys::console::warn_1(&format!("unreadable worker event: {e}").into()),
            }
        });
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |ev: ErrorEvent| {
            ev.prevent_default();
            if self.epoch.get_value() == epoch {
                let message = ev.message();
                let message = if message.is_empty() {
                    "the model worker failed to start or stopped".to_string()
                } else {
                    format!("the model worker stopped: {message}")
                };
                self.crashed("worker_crashed", &message);
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        self.terminate();
        self.connection.set_value(Some(Connection {
            worker,
            _on_message: on_message,
            _on_error: on_error,
        }));
        // A worker whose wasm never starts sends nothing at all: time it out.
        set_timeout(
            move || {
                if self.epoch.get_value() == epoch && !self.alive.get_value() {
                    self.crashed(
                        "worker_crashed",
                        "the model worker did not start within 30 seconds",
                    );
                }
            },
            START_TIMEOUT,
        );
    }

    fn terminate(self) {
        self.connection.update_value(|c| {
            if let Some(old) = c.take() {
                old.worker.terminate();
            }
        });
    }

    pub fn send(self, command: &Command) {
        let sent = self.connection.with_value(|c| match (c, command.to_js()) {
            (Some(c), Ok(value)) => c.worker.post_message(&value).is_ok(),
            _ => false,
        });
        if !sent {
            self.state.show_error(
                "worker_crashed",
                "the model worker is not running; it is being restarted",
            );
            self.restart();
        }
    }

    /// Replaces the worker with a fresh one (the model comes from the cache).
    pub fn restart(self) {
        self.abort_answer();
        self.spawn();
    }

    pub fn cancel(self) {
        if self.state.generation.get_untracked().is_busy() {
            self.state.generation.set(GenStatus::Cancelling);
            self.send(&Command::Cancel);
        }
    }

    fn crashed(self, kind: &str, message: &str) {
        let now = js_sys::Date::now();
        let recent = self
            .crashes
            .with_value(|c| c.iter().filter(|&&t| now - t < CRASH_WINDOW_MS).count());
        self.crashes.update_value(|c| c.push(now));
        self.abort_answer();
        if recent >= MAX_CRASHES {
            self.epoch.update_value(|e| *e += 1);
            self.terminate();
            self.state.load.set(LoadStatus::Failed);
            self.state.show_error("worker_gave_up", message);
        } else {
            self.state.show_error(kind, message);
            self.spawn();
        }
    }

    /// Ends the answer in progress after an error: an answer with no text is
    /// taken back (its question returns to the message box), a partial one stays.
    fn abort_answer(self) {
        let state = self.state;
        if !state.generation.get_untracked().is_busy() {
            return;
        }
        state.generation.set(GenStatus::Idle);
        let Some(turn) = state.streaming_turn() else {
            return;
        };
        turn.streaming.set(false);
        if turn.text.get_untracked().is_empty() {
            state.turns.update(|turns| {
                turns.pop();
                if let Some(user) = turns.pop_if(|t| t.role == Role::User) {
                    if state.draft.get_untracked().trim().is_empty() {
                        state.draft.set(user.text.get_untracked());
                    }
                }
            });
        }
    }

    fn on_event(self, event: Event) {
        let state = self.state;
        match event {
            Event::Alive => {
                self.alive.set_value(true);
                self.send(&Command::Load {
                    url: self.model_url.get_value(),
                });
            }
            Event::Progress {
                loaded,
                total,
                from_cache,
            } => {
                let complete = total.is_some_and(|t| loaded >= t);
                state.load.update(|load| {
                    *load = if complete {
                        LoadStatus::Preparing { from_cache }
                    } else {
                        let started_ms = match load {
                            LoadStatus::Downloading {
                                started_ms,
                                from_cache: was,
                                ..
                            } if *was == from_cache => *started_ms,
                            _ => js_sys::Date::now(),
                        };
                        LoadStatus::Downloading {
                            loaded,
                            total,
                            from_cache,
                            started_ms,
                        }
                    };
                });
            }
            Event::Ready {
                backend,
                load_ms,
                cache,
                bytes,
            } => {
                state.load.set(LoadStatus::Ready {
                    backend,
                    load_ms,
                    cache,
                    bytes,
                });
                let stale = state.banner.with_untracked(|b| {
                    b.as_ref().is_some_and(|b| {
                        matches!(
                            b.kind.as_str(),
                            "model_fetch" | "model_file" | "not_ready" | "panic" | "worker_crashed"
                        )
                    })
                });
                if stale {
                    state.banner.set(None);
                }
            }
            Event::Started { prompt_tokens } => {
                if state.generation.get_untracked() != GenStatus::Cancelling {
                    state.generation.set(GenStatus::Prefill {
                        prompt_tokens: Some(prompt_tokens),
                    });
                }
            }
            Event::Token {
                text,
                tokens_per_second,
                ..
            } => {
                if let Some(turn) = state.streaming_turn() {
                    let follow = near_bottom();
                    if !text.is_empty() {
                        turn.text.update(|t| t.push_str(&text));
                    }
                    if tokens_per_second.is_some() {
                        turn.live_tps.set(tokens_per_second);
                    }
                    if follow {
                        scroll_log_to_end();
                    }
                }
                if matches!(state.generation.get_untracked(), GenStatus::Prefill { .. }) {
                    state.generation.set(GenStatus::Streaming);
                }
            }
            Event::Done { summary } => self.finish(summary),
            Event::Trace {
                event,
                proposed_text,
            } => self.on_trace(event, proposed_text),
            Event::Error { kind, message } => {
                if kind == "panic" {
                    // The worker is dying; its `error` event will be ignored.
                    self.epoch.update_value(|e| *e += 1);
                    self.crashed("panic", &message);
                    return;
                }
                let loading = !state.load.get_untracked().is_ready();
                if loading
                    && matches!(
                        kind.as_str(),
                        "model_fetch"
                            | "model_file"
                            | "unsupported_model"
                            | "tokenizer"
                            | "template"
                    )
                {
                    state.load.set(LoadStatus::Failed);
                }
                self.abort_answer();
                state.show_error(&kind, &message);
            }
        }
    }

    fn on_trace(self, event: SteerEvent, proposed_text: Vec<String>) {
        let state = self.state;
        let Some(turn) = state.streaming_turn() else {
            return;
        };
        let Some(trace) = turn.steer.clone() else {
            return;
        };
        let follow = near_bottom();
        match event {
            SteerEvent::Importance {
                attributes,
                raw,
                weights,
                selected,
                ..
            } => trace.importance.set(Some(ImportanceInfo {
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
                if trace.first_ms.with_untracked(Option::is_none) {
                    trace.first_ms.set(Some(js_sys::Date::now()));
                }
                if !text.is_empty() {
                    turn.text.update(|t| t.push_str(&text));
                }
                trace.tokens.update(|v| {
                    v.push(TokenInfo {
                        index,
                        text,
                        reward,
                        rewards,
                        top,
                        chunk,
                    })
                });
                if matches!(state.generation.get_untracked(), GenStatus::Prefill { .. }) {
                    state.generation.set(GenStatus::Streaming);
                }
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
                let mut texts = proposed_text;
                texts.resize(proposed.len(), String::new());
                trace.chunks.update(|c| {
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
                trace.stats.set(Some(stats));
                turn.streaming.set(false);
                state.generation.set(GenStatus::Idle);
            }
        }
        if follow {
            scroll_log_to_end();
        }
    }

    fn finish(self, summary: GenerationSummary) {
        let state = self.state;
        if let Some(turn) = state.streaming_turn() {
            let follow = near_bottom();
            // The summary's text includes any bytes still held back at the end.
            turn.text.set(summary.text.clone());
            turn.stats.set(Some(AnswerStats {
                tokens: summary.generated_ids.len(),
                tokens_per_second: summary.tokens_per_second,
                prefill_tokens_per_second: summary.prefill_tokens_per_second,
                prompt_tokens: summary.prompt_ids.len(),
                stop: summary.stop_reason,
            }));
            turn.streaming.set(false);
            if follow {
                scroll_log_to_end();
            }
        }
        state.generation.set(GenStatus::Idle);
    }
}

/// The absolute model URL (relative paths resolve against the page).
fn model_url() -> String {
    let Some(window) = web_sys::window() else {
        return DEFAULT_MODEL_PATH.to_string();
    };
    let wanted = window
        .location()
        .search()
        .ok()
        .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
        .and_then(|p| p.get("model"))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| DEFAULT_MODEL_PATH.to_string());
    let base = window
        .document()
        .and_then(|d| d.base_uri().ok().flatten())
        .unwrap_or_default();
    web_sys::Url::new_with_base(&wanted, &base)
        .map(|u| u.href())
        .unwrap_or(wanted)
}
