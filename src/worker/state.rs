//! What the worker holds between messages: the loaded engine (and, on
//! WebGPU, the model file for a CPU fallback), the session's adapters, a
//! spare tokenizer, the job in progress, and the cancel and `lose_device`
//! flags the yielding backend watches.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::backends::AnyEngine;
use crate::model::lora::LoraAdapter;
use crate::model::{GgufFile, Tokenizer};

/// What the worker is doing: one job at a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Job {
    #[default]
    Idle,
    Loading,
    Generating,
}

#[derive(Default)]
pub(super) struct State {
    pub engine: RefCell<Option<AnyEngine>>,
    /// The model, kept while the engine is on WebGPU (for a CPU fallback).
    pub file: RefCell<Option<GgufFile>>,
    /// The session's adapters in the order added (added again after a
    /// switch to the CPU, so their ids stay the same).
    pub adapters: RefCell<Vec<LoraAdapter>>,
    /// A second tokenizer: spells out SCR's proposed tokens while the
    /// engine (and its tokenizer) is lent to a steering run.
    pub decoder: RefCell<Option<Rc<Tokenizer>>>,
    pub job: Cell<Job>,
    pub cancel: Rc<Cell<bool>>,
    /// A `lose_device` that waits for the job holding the engine.
    pub lose: Rc<Cell<bool>>,
}
