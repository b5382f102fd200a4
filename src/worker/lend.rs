//! Lends the engine's parts to an `Engine<YieldingBackend<B>>` for one job
//! (an answer, a steering run or a probe), so a `cancel` or a simulated
//! device loss lands between forwards, and takes them back afterwards,
//! whatever the job returned. Generic over the backend (CPU or WebGPU).

use std::cell::Cell;

use super::backends::WorkerBackend;
use super::yielding::{Hooks, YieldingBackend, CANCELLED};
use crate::engine::Engine;
use crate::Error;

/// Runs `job` on a yielding engine made of `engine`'s parts; returns the
/// engine and the job's result.
pub(crate) async fn lend<B: WorkerBackend, T>(
    engine: Engine<B>,
    hooks: Hooks,
    job: impl AsyncFnOnce(&mut Engine<YieldingBackend<B>>) -> T,
) -> (Engine<B>, T) {
    let Engine {
        tokenizer,
        template,
        backend,
        cache,
    } = engine;
    let mut lent = Engine {
        tokenizer,
        template,
        backend: YieldingBackend {
            inner: backend,
            hooks,
        },
        cache,
    };
    let out = job(&mut lent).await;
    let Engine {
        tokenizer,
        template,
        backend,
        cache,
    } = lent;
    let engine = Engine {
        tokenizer,
        template,
        backend: backend.inner,
        cache,
    };
    (engine, out)
}

/// Whether `e` is the error of a forward that `cancel` stopped.
pub(crate) fn cancelled(e: &Error, cancel: &Cell<bool>) -> bool {
    matches!(e, Error::Backend(m) if m == CANCELLED) && cancel.get()
}
