//! The page's end of a model worker: starts it, sends commands, turns its
//! events into state changes, and replaces it when it dies (a panic or an
//! uncaught error), up to a few times a minute. Events from a replaced
//! worker are ignored (each worker has an epoch). There is one client per
//! compare lane ([`Clients`]); lane B's worker starts with compare mode.
//! Adapters are sent to a worker one at a time, and again to a fresh one.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::conversation::{near_bottom, scroll_log_to_end};
use super::state::{Adapter, AnswerStats, AppState, GenStatus, Lane, LoadStatus, ProbeState, Role};
use crate::engine::GenerationSummary;
use crate::steer::Event as SteerEvent;
use crate::worker::protocol::{AdapterRequest, BackendChoice, Command, Event, FILES_KEY};

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

/// An adapter command and its picked files (undefined for shipped ones).
pub type AdapterJob = (AdapterRequest, JsValue);

/// A `Copy` handle to one lane's worker connection.
#[derive(Clone, Copy)]
pub struct Client {
    pub lane: Lane,
    state: AppState,
    connection: StoredValue<Option<Connection>, LocalStorage>,
    epoch: StoredValue<u32>,
    /// Whether the current worker has said `alive`.
    alive: StoredValue<bool>,
    crashes: StoredValue<Vec<f64>>,
    model_url: StoredValue<String>,
    /// Adapter commands waiting for this worker to be idle.
    queue: StoredValue<Vec<AdapterJob>, LocalStorage>,
    /// Every adapter the session has (replayed into a fresh worker).
    loaded: StoredValue<Vec<AdapterJob>, LocalStorage>,
    /// The other lane's client (A sends checked adapters to B; either may
    /// start a waiting re-run).
    peer: StoredValue<Option<Client>>,
}

/// Both lanes' clients.
#[derive(Clone, Copy)]
pub struct Clients {
    pub a: Client,
    pub b: Client,
}

impl Clients {
    /// Starts lane A's worker (it loads the model as soon as it is alive).
    pub fn start(state: AppState) -> Self {
        let loaded = StoredValue::new_local(Vec::new());
        let make = |lane| Client {
            lane,
            state,
            connection: StoredValue::new_local(None),
            epoch: StoredValue::new(0),
            alive: StoredValue::new(false),
            crashes: StoredValue::new(Vec::new()),
            model_url: StoredValue::new(model_url()),
            queue: StoredValue::new_local(Vec::new()),
            loaded,
            peer: StoredValue::new(None),
        };
        let clients = Self {
            a: make(Lane::A),
            b: make(Lane::B),
        };
        clients.a.peer.set_value(Some(clients.b));
        clients.b.peer.set_value(Some(clients.a));
        clients.a.spawn();
        clients
    }

    pub fn get(self, lane: Lane) -> Client {
        match lane {
            Lane::A => self.a,
            Lane::B => self.b,
        }
    }

    /// Cancels whatever either worker is doing.
    pub fn cancel_all(self) {
        self.a.cancel();
        self.b.cancel();
    }
}

impl Client {
    fn load(self) -> RwSignal<LoadStatus> {
        self.state.load(self.lane)
    }

    fn gen(self) -> RwSignal<GenStatus> {
        self.state.gen(self.lane)
    }

    /// Starts this lane's worker unless it runs already.
    pub fn ensure_started(self) {
        if self.connection.with_value(Option::is_none)
            && self.load().get_untracked() != LoadStatus::Failed
        {
            self.spawn();
        }
    }

    fn spawn(self) {
        let epoch = self.epoch.get_value() + 1;
        self.epoch.set_value(epoch);
        self.alive.set_value(false);
        self.load().set(LoadStatus::Starting);
        let worker = match Worker::new(WORKER_SCRIPT) {
            Ok(w) => w,
            Err(e) => {
                self.load().set(LoadStatus::Failed);
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
        self.post(command, &JsValue::UNDEFINED);
    }

    /// Posts `command`, with `files` beside it when given.
    fn post(self, command: &Command, files: &JsValue) {
        let sent = self.connection.with_value(|c| match (c, command.to_js()) {
            (Some(c), Ok(value)) => {
                if !files.is_undefined() {
                    let _ = js_sys::Reflect::set(&value, &FILES_KEY.into(), files);
                }
                c.worker.post_message(&value).is_ok()
            }
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

    /// Stops the answer, probe or adapter check in progress.
    pub fn cancel(self) {
        match self.gen().get_untracked() {
            GenStatus::Idle | GenStatus::Cancelling => {}
            GenStatus::Job => self.send(&Command::Cancel),
            _ => {
                self.gen().set(GenStatus::Cancelling);
                self.send(&Command::Cancel);
            }
        }
    }

    /// Queues an adapter for this worker (sent when it is ready and idle).
    pub fn queue_adapter(self, job: AdapterJob) {
        self.queue.update_value(|q| q.push(job));
        self.pump();
    }

    /// Sends the next queued adapter when the worker is ready and idle.
    fn pump(self) {
        if !self.load().get_untracked().is_ready() || self.gen().get_untracked().is_busy() {
            return;
        }
        let Some((req, files)) = self.queue.with_value(|q| q.first().cloned()) else {
            return;
        };
        self.gen().set(GenStatus::Job);
        self.post(&Command::AddAdapter(req), &files);
    }

    /// The adapter job in flight is answered.
    fn adapter_answered(self) {
        self.queue.update_value(|q| {
            if !q.is_empty() {
                q.remove(0);
            }
        });
        self.gen().set(GenStatus::Idle);
        self.became_idle();
    }

    /// The worker is free again: next adapter, then any waiting re-run.
    fn became_idle(self) {
        self.pump();
        if let (false, Some(peer)) = (self.gen().get_untracked().is_busy(), self.peer.get_value()) {
            let clients = match self.lane {
                Lane::A => Clients { a: self, b: peer },
                Lane::B => Clients { a: peer, b: self },
            };
            super::rerun::resume(self.state, clients);
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
            self.load().set(LoadStatus::Failed);
            self.state.show_error("worker_gave_up", message);
        } else {
            self.state.show_error(kind, message);
            self.spawn();
        }
    }

    /// Ends this lane's job after an error: an answer with no text is taken
    /// back (its question returns to the message box), a partial one stays.
    fn abort_answer(self) {
        let state = self.state;
        let was = self.gen().get_untracked();
        if !was.is_busy() {
            return;
        }
        self.gen().set(GenStatus::Idle);
        if was == GenStatus::Job {
            // Lane A's job is the probe while one runs; else an adapter check.
            if self.lane == Lane::A && state.probe.with_untracked(|p| p.running) {
                state.probe.update(|p| p.running = false);
            } else {
                self.queue.update_value(|q| {
                    if !q.is_empty() {
                        q.remove(0);
                    }
                });
                state.adapter_job.set(None);
            }
            return;
        }
        let Some(turn) = state.streaming_turn() else {
            return;
        };
        match turn.trace(self.lane) {
            Some(trace) => trace.streaming.set(false),
            None => turn.streaming.set(false),
        }
        turn.settle();
        let empty = turn.content().is_empty()
            && turn
                .compare
                .as_ref()
                .is_none_or(|t| t.tokens.with_untracked(Vec::is_empty));
        if !turn.streaming.get_untracked() && empty {
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
                    backend: state.backend_choice.get_value(),
                });
            }
            Event::Progress {
                loaded,
                total,
                from_cache,
            } => {
                let complete = total.is_some_and(|t| loaded >= t);
                self.load().update(|load| {
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
                label,
                not_gpu,
                load_ms,
                cache,
                bytes,
            } => {
                let forced_gpu = state.backend_choice.get_value() == BackendChoice::Webgpu;
                let unavailable = not_gpu.clone().filter(|_| forced_gpu);
                self.load().set(LoadStatus::Ready {
                    backend,
                    label,
                    not_gpu,
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
                if stale && self.lane == Lane::A {
                    state.banner.set(None);
                }
                // ?backend=webgpu that could not start: say so, never silently.
                if let (Some(why), Lane::A) = (unavailable, self.lane) {
                    state.show_error("webgpu_unavailable", &why);
                }
                // A fresh worker gets the session's adapters again, in order.
                let again = self.loaded.get_value();
                self.queue.set_value(again);
                self.became_idle();
            }
            Event::BackendLost {
                backend,
                label,
                reason,
            } => self.backend_lost(backend, label, &reason),
            Event::Started { prompt_tokens } => {
                if self.gen().get_untracked() != GenStatus::Cancelling {
                    self.gen().set(GenStatus::Prefill {
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
                if matches!(self.gen().get_untracked(), GenStatus::Prefill { .. }) {
                    self.gen().set(GenStatus::Streaming);
                }
            }
            Event::Done { summary } => self.finish(summary),
            Event::Trace {
                event,
                proposed_text,
                decode_ms,
            } => {
                let Some(turn) = state.streaming_turn() else {
                    return;
                };
                let Some(trace) = turn.trace(self.lane).cloned() else {
                    return;
                };
                let follow = near_bottom();
                if matches!(self.gen().get_untracked(), GenStatus::Prefill { .. }) {
                    self.gen().set(GenStatus::Streaming);
                }
                if decode_ms.is_some() {
                    trace.decode_ms.set(decode_ms);
                }
                if matches!(event, SteerEvent::Done { .. }) {
                    trace.backend.set(self.load().get_untracked().label());
                }
                if trace.apply(event, proposed_text) {
                    turn.settle();
                    self.gen().set(GenStatus::Idle);
                    self.became_idle();
                }
                if follow {
                    scroll_log_to_end();
                }
            }
            Event::ProbeProgress { done, total } => state.probe.update(|p| {
                p.done = done;
                p.total = total;
            }),
            Event::ProbeDone { axes, cancelled } => {
                state.probe.update(|p| {
                    *p = ProbeState {
                        running: false,
                        axes,
                        cancelled,
                        label: p.label.clone(),
                        ..ProbeState::default()
                    }
                });
                self.gen().set(GenStatus::Idle);
                self.became_idle();
            }
            Event::AdapterAdded {
                name,
                id,
                rank,
                tensors,
            } => {
                if self.lane == Lane::A {
                    self.adapter_added(Adapter {
                        name,
                        id,
                        rank,
                        tensors,
                        shipped: None,
                    });
                }
                self.adapter_answered();
            }
            Event::Error { kind, message } => self.on_error(&kind, &message),
        }
    }

    /// Lane A checked a new adapter: it becomes an expert (α 0 in both
    /// lanes) and goes to lane B's worker too.
    fn adapter_added(self, mut adapter: Adapter) {
        let state = self.state;
        if state
            .adapters
            .with_untracked(|a| a.iter().any(|x| x.name == adapter.name))
        {
            return; // a replay into a fresh worker
        }
        let job = self.queue.with_value(|q| q.first().cloned());
        if let Some((req, files)) = job {
            if let crate::worker::protocol::AdapterSource::Url { base } = &req.source {
                adapter.shipped = Some(base.clone());
            }
            self.loaded
                .update_value(|l| l.push((req.clone(), files.clone())));
            if let Some(b) = self.peer.get_value() {
                if b.connection.with_value(Option::is_some) {
                    b.queue_adapter((req, files));
                }
            }
        }
        state.adapters.update(|a| a.push(adapter));
        for lane in state.lanes {
            lane.alphas.update(|a| a.push(0.0));
        }
        state.adapter_job.set(None);
    }

    fn on_error(self, kind: &str, message: &str) {
        let state = self.state;
        if kind == "panic" {
            // The worker is dying; its `error` event will be ignored.
            self.epoch.update_value(|e| *e += 1);
            self.crashed("panic", message);
            return;
        }
        let loading = !self.load().get_untracked().is_ready();
        if loading
            && matches!(
                kind,
                "model_fetch" | "model_file" | "unsupported_model" | "tokenizer" | "template"
            )
        {
            self.load().set(LoadStatus::Failed);
        }
        if kind == "adapter" {
            state.adapter_job.set(None);
            self.adapter_answered();
        } else {
            self.abort_answer();
            self.became_idle();
        }
        let message = match (self.lane, state.compare.get_untracked()) {
            (Lane::B, true) => format!("(compare lane B) {message}"),
            _ => message.to_string(),
        };
        state.show_error(kind, &message);
    }

    /// The worker lost its GPU and now runs on the CPU: the status line
    /// says so, a banner says why, and the answer in progress (which the
    /// worker writes again from its start) is cleared.
    fn backend_lost(self, backend: String, label: String, reason: &str) {
        let state = self.state;
        self.load().update(|load| {
            if let LoadStatus::Ready {
                backend: b,
                label: l,
                not_gpu,
                ..
            } = load
            {
                *b = backend;
                *l = label;
                *not_gpu = Some(format!("the GPU was lost: {reason}"));
            }
        });
        let message = match self.lane {
            Lane::A => format!("the GPU was lost ({reason})"),
            Lane::B => format!("(compare lane B) the GPU was lost ({reason})"),
        };
        state.show_error("gpu_lost", &message);
        let gen = self.gen().get_untracked();
        if !gen.is_answering() {
            return;
        }
        if gen != GenStatus::Cancelling {
            self.gen().set(GenStatus::Prefill {
                prompt_tokens: None,
            });
        }
        if let Some(turn) = state.streaming_turn() {
            match turn.trace(self.lane) {
                Some(trace) => trace.restart(),
                None if self.lane == Lane::A => {
                    turn.text.set(String::new());
                    turn.live_tps.set(None);
                }
                None => {}
            }
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
                backend: self.load().get_untracked().label().unwrap_or_default(),
            }));
            turn.streaming.set(false);
            if follow {
                scroll_log_to_end();
            }
        }
        self.gen().set(GenStatus::Idle);
        self.became_idle();
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
