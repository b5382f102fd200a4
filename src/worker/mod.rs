//! The model worker: a dedicated Web Worker running the engine in wasm so
//! the page never blocks. It answers the page's [`protocol::Command`]s with
//! [`protocol::Event`]s: load the model (Cache API, then network, with
//! progress) onto WebGPU or the CPU (`choice`), generate an answer token by
//! token, run a steering method or an axis probe, add a LoRA adapter,
//! cancel (`jobs`; a lost GPU switches to the CPU, `fallback`). Failures
//! become `error` events; a panic is reported as kind `panic` before the
//! worker dies, and the page then starts a new one.

pub(crate) mod adapters;
pub(crate) mod backends;
pub(crate) mod choice;
pub(crate) mod contrast_run;
pub(crate) mod engine_error;
pub(crate) mod fallback;
pub(crate) mod jobs;
pub(crate) mod lend;
pub(crate) mod loader;
pub(crate) mod post;
pub(crate) mod probe_run;
pub(crate) mod protocol;
pub(crate) mod session;
pub(crate) mod state;
pub(crate) mod steer_run;
pub(crate) mod thread_pool;
pub(crate) mod yield_now;
pub(crate) mod yielding;

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

use crate::engine::clock::now_ms;
use crate::model::{GgufFile, Tokenizer};
use crate::page_data::kernel_choice::KernelChoice;
use backends::AnyEngine;
use choice::Started;
use engine_error::WorkerError;
use jobs::Request;
use loader::CacheOutcome;
pub(crate) use post::post;
use protocol::{BackendChoice, Command, ErrorKind, Event};
use state::{Job, State};

/// Entry point of the worker binary.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(&Event::error(
            ErrorKind::Panic,
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
                ErrorKind::BadCommand,
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
        Command::LoseDevice => match state.engine.borrow().as_ref() {
            Some(AnyEngine::Gpu(engine)) => engine.backend.lose_device(),
            Some(AnyEngine::Cpu(_)) => {
                web_sys::console::warn_1(&"lose_device: the worker runs on the CPU".into())
            }
            None => state.lose.set(true),
        },
        Command::Load {
            url,
            backend,
            cache_mb,
            threads,
            threads_note,
            kernels,
        } => {
            if state.job.get() != Job::Idle {
                post(&busy_error());
                return;
            }
            state.job.set(Job::Loading);
            let state = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let threads = thread_pool::ensure(threads).await;
                let threads = (threads.0, threads.1.or(threads_note));
                let how = (backend, kernels);
                if let Err(e) = load(&state, &url, how, cache_mb, threads).await {
                    post(&e.event());
                }
                state.job.set(Job::Idle);
            });
        }
        Command::Generate(req) => start_job(state, Request::Generate(req)),
        Command::Run(req) => start_job(state, Request::Run(req)),
        Command::Probe(req) => start_job(state, Request::Probe(req)),
        Command::Contrast(req) => start_job(state, Request::Contrast(req)),
        Command::AddAdapter(req) => start_job(state, Request::Adapter(req, files)),
    }
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
        if let Err(e) = jobs::run(&state, request).await {
            post(&e.event());
        }
        state.job.set(Job::Idle);
    });
}

fn not_ready() -> Event {
    Event::error(
        ErrorKind::NotReady,
        "the model is not loaded yet; wait until it is ready, then send again",
    )
}

fn busy_error() -> Event {
    Event::error(
        ErrorKind::Busy,
        "the worker is busy with another request; wait for it to finish or press Cancel",
    )
}

async fn load(
    state: &State,
    url: &str,
    choice: (BackendChoice, KernelChoice),
    cache_mb: Option<f64>,
    (threads, threads_note): (usize, Option<String>),
) -> Result<(), WorkerError> {
    let t0 = now_ms();
    // Drop any previous engine before building the new one (memory).
    state.engine.borrow_mut().take();
    state.file.borrow_mut().take();
    state.decoder.borrow_mut().take();
    state.adapters.borrow_mut().clear();
    state.lose.set(false);
    let mut skip_cache = false;
    let ((started, decoder), cache, size) = loop {
        let loaded = loader::load_model(url, skip_cache, &mut |loaded, total, from_cache| {
            post(&Event::Progress {
                loaded,
                total,
                from_cache,
            })
        })
        .await?;
        let size = loaded.bytes.len() as f64;
        match prepare(loaded.bytes, choice).await {
            Ok(prepared) => break (prepared, loaded.cache, size),
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
    let Started {
        mut engine,
        label,
        not_gpu,
        file,
    } = started;
    if let Some(mb) = cache_mb {
        engine.set_cache_mb(mb)?;
    }
    let backend = engine.backend_name();
    *state.engine.borrow_mut() = Some(engine);
    *state.file.borrow_mut() = file;
    *state.decoder.borrow_mut() = decoder.map(Rc::new);
    post(&Event::Ready {
        backend,
        label,
        not_gpu,
        threads,
        threads_note,
        load_ms: now_ms() - t0,
        cache: cache.label(),
        bytes: size,
    });
    Ok(())
}

/// Parses the GGUF and loads it onto the chosen backend (`choice::start`),
/// plus a spare tokenizer for spelling out tokens during steering runs.
async fn prepare(
    bytes: Vec<u8>,
    (choice, kernels): (BackendChoice, KernelChoice),
) -> crate::Result<(Started, Option<Tokenizer>)> {
    let file = GgufFile::from_bytes(bytes)?;
    let decoder = Tokenizer::from_gguf(&file).ok();
    Ok((choice::start(file, choice, kernels).await?, decoder))
}
