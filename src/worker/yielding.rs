//! A backend wrapper that keeps the worker responsive during a steering run.
//! The policies in `crate::steer` call the engine in a loop without ever
//! yielding to the event loop, so a `cancel` message could not land until
//! the run ended. [`YieldingBackend`] delegates every method to the CPU
//! backend and, before each `forward`, awaits one zero-delay yield
//! (`yield_now`); when the shared cancel flag is then set it fails the call
//! with `Error::Backend("cancelled")`, which unwinds the policy (its views
//! free their rows on drop). Cancel therefore takes effect before the next
//! batched forward, i.e. within one token or one chunk. It also notes when
//! the first two forwards ended (the prompts' prefill), for the decode-only
//! rate.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::yield_now::yield_now;
use crate::backend::cpu::CpuBackend;
use crate::backend::{AdapterId, Backend, BackendCounters, LogProbs, RowId, RowStep};
use crate::engine::clock::now_ms;
use crate::model::LlamaConfig;
use crate::{Error, Result};

/// The message of the error a cancelled forward returns.
pub const CANCELLED: &str = "cancelled";

pub struct YieldingBackend {
    pub inner: CpuBackend,
    pub cancel: Rc<Cell<bool>>,
    /// When each of the first two forwards ended, ms (the prompts' prefill
    /// is one forward, or two when there are several views).
    pub forward_ends: Rc<RefCell<Vec<f64>>>,
}

impl Backend for YieldingBackend {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn config(&self) -> &LlamaConfig {
        self.inner.config()
    }
    fn new_row(&mut self) -> Result<RowId> {
        self.inner.new_row()
    }
    fn fork_row(&mut self, src: RowId, len: usize) -> Result<RowId> {
        self.inner.fork_row(src, len)
    }
    fn truncate_row(&mut self, row: RowId, len: usize) -> Result<()> {
        self.inner.truncate_row(row, len)
    }
    fn free_row(&mut self, row: RowId) {
        self.inner.free_row(row)
    }
    fn set_row_adapters(&mut self, row: RowId, mix: &[(AdapterId, f32)]) -> Result<()> {
        self.inner.set_row_adapters(row, mix)
    }
    fn row_len(&self, row: RowId) -> Result<usize> {
        self.inner.row_len(row)
    }
    async fn forward(&mut self, steps: &[RowStep<'_>]) -> Result<Vec<LogProbs>> {
        yield_now().await;
        if self.cancel.get() {
            return Err(Error::Backend(CANCELLED.to_string()));
        }
        let out = self.inner.forward(steps).await;
        let mut ends = self.forward_ends.borrow_mut();
        if ends.len() < 2 {
            ends.push(now_ms());
        }
        out
    }
    fn counters(&self) -> BackendCounters {
        self.inner.counters()
    }
}
