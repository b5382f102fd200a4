//! The model worker: a dedicated Web Worker running the engine in wasm so
//! the page never blocks. It answers the page's [`protocol::Command`]s with
//! [`protocol::Event`]s: load the model (Cache API, then network, with
//! progress), generate an answer token by token, run a steering method or
//! an axis probe, add a LoRA adapter, cancel. Failures become
//! `error` events; a panic is reported as kind `panic` before the worker
//! dies, and the page then starts a new one.

pub mod adapters;
pub mod engine_error;
pub mod lend;
pub mod loader;
pub mod probe_run;
pub mod protocol;
pub mod session;
pub mod steer_run;
pub mod yield_now;
pub mod yielding;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::backend::cpu::{CpuBackend, WeightMode};
use crate::backend::Backend;
use crate::engine::clock::now_ms;
use crate::engine::Engine;
use crate::model::{GgufFile, Tokenizer};
use engine_error::WorkerError;
use loader::CacheOutcome;
use protocol::{AdapterRequest, Command, Event, GenerateRequest, ProbeRequest, RunRequest};

/// Posts one event to the page (dropped with a console note if it cannot be encoded).
pub fn post(event: &Event) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match event.to_js() {
        Ok(value) => {
            if let Err(e) = scope.post_message(&value) {
                web_sys::console::error_2(&"worker: postMessage failed".into(), &e);
            }
        }
        Err(e) => web_sys::console::error_1(&format!("worker: cannot encode event: {e}").into()),
    }
}

/// What the worker is doing: one job at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Job {
    #[default]
    Idle,
    Loading,
    Generating,
}

#[derive(Default)]
struct State {
    engine: RefCell<Option<Engine<CpuBackend>>>,
    /// A second tokenizer: spells out SCR's proposed tokens while the
    /// engine (and its tokenizer) is lent to a steering run.
    decoder: RefCell<Option<Rc<Tokenizer>>>,
    job: Cell<Job>,
    cancel: Rc<Cell<bool>>,
}

/// Entry point of the worker binary.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(&Event::error(
            "panic",
            format!("the model worker crashed ({info})"),
        ));
    }));

    let state = Rc::new(State::default());
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |msg: MessageEvent| {
        let data = msg.data();
        // Picked files ride beside the command; serde never sees them.
        let files = js_sys::Reflect::get(&data, &protocol::FILES_KEY.into()).unwrap_or_default();
        if !files.is_undefined() {
            let _ = js_sys::Reflect::delete_property(
                data.unchecked_ref::<js_sys::Object>(),
                &protocol::FILES_KEY.into(),
            );
        }
        match Command::from_js(data) {
            Ok(command) => handle(&state, command, files),
            Err(e) => post(&Event::error(
                "bad_command",
                format!("the worker did not understand a message: {e}"),
            )),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&Event::Alive);
}

fn handle(state: &Rc<State>, command: Command, files: JsValue) {
    match command {
        Command::Cancel => state.cancel.set(true),
        Command::Load { url } => {
            if state.job.get() != Job::Idle {
                post(&busy_error());
                return;
            }
            state.job.set(Job::Loading);
            let state = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = load(&state, &url).await {
                    post(&e.event());
                }
                state.job.set(Job::Idle);
            });
        }
        Command::Generate(req) => start_job(state, Request::Generate(req)),
        Command::Run(req) => start_job(state, Request::Run(req)),
        Command::Probe(req) => start_job(state, Request::Probe(req)),
        Command::AddAdapter(req) => start_job(state, Request::Adapter(req, files)),
    }
}

enum Request {
    Generate(GenerateRequest),
    Run(RunRequest),
    Probe(ProbeRequest),
    Adapter(AdapterRequest, JsValue),
}

fn start_job(state: &Rc<State>, request: Request) {
    match state.job.get() {
        Job::Generating => return post(&busy_error()),
        Job::Loading => return post(&not_ready()),
        Job::Idle if state.engine.borrow().is_none() => return post(&not_ready()),
        Job::Idle => {}
    }
    state.job.set(Job::Generating);
    state.cancel.set(false);
    let state = state.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let result = match request {
            Request::Generate(req) => generate(&state, req).await,
            Request::Run(req) => steer(&state, req).await,
            Request::Probe(req) => probe(&state, req).await,
            Request::Adapter(req, files) => add_adapter(&state, req, files).await,
        };
        if let Err(e) = result {
            post(&e.event());
        }
        state.job.set(Job::Idle);
    });
}

fn not_ready() -> Event {
    Event::error(
        "not_ready",
        "the model is not loaded yet; wait until it is ready, then send again",
    )
}

fn busy_error() -> Event {
    Event::error(
        "busy",
        "the worker is busy with another request; wait for it to finish or press Cancel",
    )
}

async fn load(state: &State, url: &str) -> Result<(), WorkerError> {
    let t0 = now_ms();
    // Drop any previous engine before building the new one (memory).
    state.engine.borrow_mut().take();
    state.decoder.borrow_mut().take();
    let mut skip_cache = false;
    let ((engine, decoder), cache, size) = loop {
        let loaded = loader::load_model(url, skip_cache, &mut |loaded, total, from_cache| {
            post(&Event::Progress {
                loaded,
                total,
                from_cache,
            })
        })
        .await?;
        let size = loaded.bytes.len() as f64;
        match prepare(loaded.bytes) {
            Ok(engine) => break (engine, loaded.cache, size),
            // A damaged cached copy: forget it and download once more.
            Err(e) if loaded.cache == CacheOutcome::Hit && !skip_cache => {
                web_sys::console::warn_1(
                    &format!("cached model unusable ({e}); downloading it again").into(),
                );
                loader::forget(url).await;
                skip_cache = true;
            }
            Err(e) => {
                // The download was teed into the cache while it streamed;
                // a file that cannot be used must not stay there.
                if loaded.cache == CacheOutcome::Stored {
                    loader::forget(url).await;
                }
                return Err(e.into());
            }
        }
    };
    let backend = engine.backend.name();
    *state.engine.borrow_mut() = Some(engine);
    *state.decoder.borrow_mut() = decoder.map(Rc::new);
    post(&Event::Ready {
        backend,
        load_ms: now_ms() - t0,
        cache: cache.label(),
        bytes: size,
    });
    Ok(())
}

/// Parses the GGUF and builds the CPU engine (quantized weights), plus a
/// spare tokenizer for spelling out tokens during steering runs.
fn prepare(bytes: Vec<u8>) -> crate::Result<(Engine<CpuBackend>, Option<Tokenizer>)> {
    let file = GgufFile::from_bytes(bytes)?;
    let engine = Engine::load_cpu(&file, WeightMode::Quantized)?;
    Ok((engine, Tokenizer::from_gguf(&file).ok()))
}

async fn generate(state: &State, req: GenerateRequest) -> Result<(), WorkerError> {
    // Take the engine out so no RefCell borrow lives across awaits.
    let Some(mut engine) = state.engine.borrow_mut().take() else {
        return Err(WorkerError::new("not_ready", "the model is not loaded yet"));
    };
    let result = session::run(&mut engine, req, &state.cancel, &post).await;
    *state.engine.borrow_mut() = Some(engine);
    result
}

async fn steer(state: &State, req: RunRequest) -> Result<(), WorkerError> {
    let Some(engine) = state.engine.borrow_mut().take() else {
        return Err(WorkerError::new("not_ready", "the model is not loaded yet"));
    };
    let decoder = state.decoder.borrow().clone();
    let (engine, result) =
        steer_run::run_request(engine, decoder.as_deref(), req, state.cancel.clone(), &post).await;
    *state.engine.borrow_mut() = Some(engine);
    result
}

async fn probe(state: &State, req: ProbeRequest) -> Result<(), WorkerError> {
    let Some(engine) = state.engine.borrow_mut().take() else {
        return Err(WorkerError::new("not_ready", "the model is not loaded yet"));
    };
    let (engine, result) = probe_run::run_probe(engine, req, state.cancel.clone(), &post).await;
    *state.engine.borrow_mut() = Some(engine);
    result
}

async fn add_adapter(
    state: &State,
    req: AdapterRequest,
    files: JsValue,
) -> Result<(), WorkerError> {
    let Some(mut engine) = state.engine.borrow_mut().take() else {
        return Err(WorkerError::new("not_ready", "the model is not loaded yet"));
    };
    let result = adapters::add(&mut engine, req, &files, &post).await;
    *state.engine.borrow_mut() = Some(engine);
    result
}
