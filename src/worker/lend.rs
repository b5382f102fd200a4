//! Lends the engine's parts to an `Engine<YieldingBackend>` for one job
//! (a steering run or a probe), so a `cancel` lands between forwards, and
//! takes them back afterwards, whatever the job returned.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::yielding::{YieldingBackend, CANCELLED};
use crate::backend::cpu::CpuBackend;
use crate::engine::Engine;
use crate::Error;

/// Runs `job` on a yielding engine made of `engine`'s parts; returns the
/// engine and the job's result. `forward_ends` receives the times the
/// first two forwards ended.
pub async fn lend<T>(
    engine: Engine<CpuBackend>,
    cancel: Rc<Cell<bool>>,
    forward_ends: Rc<RefCell<Vec<f64>>>,
    job: impl AsyncFnOnce(&mut Engine<YieldingBackend>) -> T,
) -> (Engine<CpuBackend>, T) {
    let Engine {
        tokenizer,
        template,
        backend,
    } = engine;
    let mut steering = Engine {
        tokenizer,
        template,
        backend: YieldingBackend {
            inner: backend,
            cancel,
            forward_ends,
        },
    };
    let out = job(&mut steering).await;
    let Engine {
        tokenizer,
        template,
        backend,
    } = steering;
    let engine = Engine {
        tokenizer,
        template,
        backend: backend.inner,
    };
    (engine, out)
}

/// Whether `e` is the error of a forward that `cancel` stopped.
pub fn cancelled(e: &Error, cancel: &Cell<bool>) -> bool {
    matches!(e, Error::Backend(m) if m == CANCELLED) && cancel.get()
}
