//! Both lanes' clients start here (lane A's worker at once). One lane's
//! worker process: starting it (timed out if its wasm never
//! says `alive`), posting commands (with picked files beside them),
//! replacing it when it crashes (at most `MAX_CRASHES` a minute, then the
//! page gives up and says so), and the model's address.

use std::time::Duration;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::{Client, Clients, Connection, OnIdle};
use crate::app::state::{AppState, Lane};
use crate::page_data::lane::LoadStatus;
use crate::page_data::protocol::ErrorKind;
use crate::page_data::thread_plan::{self, PageAbilities, ThreadPlan};
use crate::worker::protocol::{Command, Event, FILES_KEY};

/// The model, relative to the page; `?model=<url>` overrides it.
pub(super) const DEFAULT_MODEL_PATH: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
/// More crashes than this within `CRASH_WINDOW_MS` and we stop restarting.
const MAX_CRASHES: usize = 3;
const CRASH_WINDOW_MS: f64 = 60_000.0;
/// A worker that has not said `alive` by then counts as crashed.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl Clients {
    /// Starts lane A's worker (it loads the model as soon as it is alive);
    /// `on_idle` runs whenever a lane's worker is free again.
    pub(crate) fn start(state: AppState, on_idle: OnIdle) -> Self {
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
            on_idle,
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
}

impl Client {
    /// Starts this lane's worker unless it runs already.
    pub(crate) fn ensure_started(self) {
        if self.connection.with_value(Option::is_none)
            && self.load().get_untracked() != LoadStatus::Failed
        {
            self.spawn();
        }
    }

    pub(super) fn spawn(self) {
        let epoch = self.epoch.get_value() + 1;
        self.epoch.set_value(epoch);
        self.alive.set_value(false);
        self.load().set(LoadStatus::Starting);
        let script = self.thread_plan().build.loader();
        let worker = match Worker::new(script) {
            Ok(w) => w,
            Err(e) => {
                self.load().set(LoadStatus::Failed);
                self.state.show_error(
                    ErrorKind::WorkerGaveUp,
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
                self.crashed(ErrorKind::WorkerCrashed, &message);
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
                        ErrorKind::WorkerCrashed,
                        "the model worker did not start within 30 seconds",
                    );
                }
            },
            START_TIMEOUT,
        );
    }

    /// The worker build and threads for this page (`?threads=`, `?simd=`,
    /// the cores, and whether the browser allows shared memory and
    /// relaxed-simd here).
    pub(super) fn thread_plan(self) -> ThreadPlan {
        let global = js_sys::global();
        let flag =
            |name: &str| js_sys::Reflect::get(&global, &name.into()).is_ok_and(|v| v.is_truthy());
        let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency());
        thread_plan::plan(
            self.state.threads.get_value(),
            PageAbilities {
                cores: cores as usize,
                isolated: flag("crossOriginIsolated"),
                shared_memory: flag("SharedArrayBuffer"),
                relaxed_simd: self.state.relaxed_simd.get_value() && validates_relaxed_simd(),
            },
        )
    }

    fn terminate(self) {
        self.connection.update_value(|c| {
            if let Some(old) = c.take() {
                old.worker.terminate();
            }
        });
    }

    /// Whether this lane's worker has been started.
    pub(crate) fn is_started(self) -> bool {
        self.connection.with_value(Option::is_some)
    }

    pub(crate) fn send(self, command: &Command) {
        self.post(command, &JsValue::UNDEFINED);
    }

    /// Posts `command`, with `files` beside it when given.
    pub(super) fn post(self, command: &Command, files: &JsValue) {
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
                ErrorKind::WorkerCrashed,
                "the model worker is not running; it is being restarted",
            );
            self.restart();
        }
    }

    /// Replaces the worker with a fresh one (the model comes from the cache).
    pub(crate) fn restart(self) {
        self.abort_answer();
        self.spawn();
    }

    /// The worker died: start another, unless it died too often lately.
    pub(super) fn crashed(self, kind: ErrorKind, message: &str) {
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
            self.state.show_error(ErrorKind::WorkerGaveUp, message);
        } else {
            self.state.show_error(kind, message);
            self.spawn();
        }
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

/// Whether this browser's WebAssembly has relaxed-simd: a module of one
/// function running `i32x4.relaxed_dot_i8x16_i7x16_add_s` on three zero
/// vectors validates.
fn validates_relaxed_simd() -> bool {
    const ZERO_V128: [u8; 18] = [0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut body = vec![0x00]; // no locals
    for _ in 0..3 {
        body.extend_from_slice(&ZERO_V128);
    }
    body.extend_from_slice(&[0xfd, 0x93, 0x02, 0x0b]); // the dot (0xfd 0x113), end
    let mut module = vec![
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
        0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
        0x03, 0x02, 0x01, 0x00, // one function of type 0
        0x0a, // code section
    ];
    module.extend_from_slice(&[body.len() as u8 + 2, 0x01, body.len() as u8]);
    module.extend_from_slice(&body);
    js_sys::WebAssembly::validate(&js_sys::Uint8Array::from(&module[..]).into()).unwrap_or(false)
}
