//! One job on the loaded engine, whichever backend it is on: the job code
//! (`session`, `steer_run`, `probe_run`, `contrast_run`, `adapters`) is generic over the
//! backend, and runs on a yielding engine (`lend`) so `cancel` and the
//! `lose_device` test hook land between forwards. When the GPU device is
//! lost during a job, the worker switches to the CPU (`fallback`) and runs
//! the same request again there, so the page loses nothing.

use std::rc::Rc;

use wasm_bindgen::JsValue;

use super::backends::{AnyEngine, WorkerBackend};
use super::engine_error::WorkerError;
use super::lend::lend;
use super::post::post;
use super::protocol::{
    AdapterRequest, ContrastRequest, ErrorKind, GenerateRequest, ProbeRequest, RunRequest,
};
use super::state::State;
use super::yielding::Hooks;
use super::{adapters, contrast_run, fallback, probe_run, session, steer_run};
use crate::engine::Engine;

/// A request that needs the loaded engine.
pub(crate) enum Request {
    Generate(GenerateRequest),
    Run(RunRequest),
    Probe(ProbeRequest),
    Contrast(ContrastRequest),
    /// An adapter, with its picked files (undefined for a shipped one).
    Adapter(AdapterRequest, JsValue),
}

/// Runs `request`; after a lost GPU device, once more on the CPU.
pub(super) async fn run(state: &State, request: Request) -> Result<(), WorkerError> {
    let Some(engine) = state.engine.borrow_mut().take() else {
        return Err(WorkerError::new(
            ErrorKind::NotReady,
            "the model is not loaded yet",
        ));
    };
    let (engine, result) = match on_any(state, engine, &request).await {
        (
            AnyEngine::Gpu(lost),
            Err(WorkerError {
                lost: Some(why), ..
            }),
        ) => {
            drop(lost);
            let file = state.file.borrow_mut().take();
            let adapters = state.adapters.borrow().clone();
            let cpu = fallback::to_cpu(file, &adapters, &why, &post)?;
            on_any(state, AnyEngine::Cpu(Box::new(cpu)), &request).await
        }
        done => done,
    };
    *state.engine.borrow_mut() = Some(engine);
    result
}

async fn on_any(
    state: &State,
    engine: AnyEngine,
    request: &Request,
) -> (AnyEngine, Result<(), WorkerError>) {
    match engine {
        AnyEngine::Cpu(e) => {
            let (e, result) = on(state, *e, request).await;
            (AnyEngine::Cpu(Box::new(e)), result)
        }
        AnyEngine::Gpu(e) => {
            let (e, result) = on(state, *e, request).await;
            (AnyEngine::Gpu(Box::new(e)), result)
        }
    }
}

async fn on<B: WorkerBackend>(
    state: &State,
    mut engine: Engine<B>,
    request: &Request,
) -> (Engine<B>, Result<(), WorkerError>) {
    let hooks = Hooks {
        cancel: state.cancel.clone(),
        lose: state.lose.clone(),
    };
    match request {
        Request::Generate(req) => {
            // The chat ends a cancelled answer itself (with a `done`), so
            // its wrapper never fails a forward for a cancel.
            let hooks = Hooks {
                cancel: Rc::default(),
                ..hooks
            };
            lend(engine, hooks, async |e| {
                session::run(e, req.clone(), &state.cancel, &post).await
            })
            .await
        }
        Request::Run(req) => {
            let decoder = state.decoder.borrow().clone();
            steer_run::run_request(engine, decoder.as_deref(), req.clone(), hooks, &post).await
        }
        Request::Probe(req) => probe_run::run_probe(engine, req.clone(), hooks, &post).await,
        Request::Contrast(req) => {
            contrast_run::run_contrast(engine, req.clone(), hooks, &post).await
        }
        Request::Adapter(req, files) => {
            if state.lose.take() {
                engine.backend.lose_device();
            }
            let result = adapters::add(&mut engine, req.clone(), files, &post).await;
            (engine, result.map(|a| state.adapters.borrow_mut().push(a)))
        }
    }
}
