//! A backend wrapper that keeps the worker responsive during a job. The
//! policies in `crate::steer` (and the chat's `Generation`) call the engine
//! in a loop; [`YieldingBackend`] delegates every method to the backend it
//! wraps (CPU or WebGPU) and, before each `forward` (or `forward_mixed`:
//! every method of the trait must be passed on), awaits one zero-delay
//! yield (`yield_now`) so queued messages land. Then, in order: a pending
//! `lose_device` test request destroys the GPU device (so the forward fails
//! with `Error::DeviceLost`, as a real loss would); a set cancel flag fails
//! the call with `Error::Backend("cancelled")`, which unwinds the policy
//! (its views free their rows on drop). Cancel therefore takes effect
//! before the next batched forward, i.e. within one token or one chunk.

use std::cell::Cell;
use std::rc::Rc;

use super::backends::WorkerBackend;
use super::yield_now::yield_now;
use crate::backend::{
    AdapterId, Backend, BackendCounters, LogProbs, MixRead, Mixed, RowId, RowStep,
};
use crate::model::LlamaConfig;
use crate::{Error, Result};

/// The message of the error a cancelled forward returns.
pub(crate) const CANCELLED: &str = "cancelled";

/// What the wrapper watches between forwards.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    /// Set by the page's `cancel`: the next forward fails with [`CANCELLED`].
    pub cancel: Rc<Cell<bool>>,
    /// Set by the `lose_device` test command: the next forward first
    /// destroys the GPU device.
    pub lose: Rc<Cell<bool>>,
}

pub(crate) struct YieldingBackend<B> {
    pub inner: B,
    pub hooks: Hooks,
}

impl<B: WorkerBackend> YieldingBackend<B> {
    /// Before a forward: yield, then a pending device loss, then a cancel.
    async fn gate(&mut self) -> Result<()> {
        yield_now().await;
        if self.hooks.lose.take() {
            self.inner.lose_device();
        }
        if self.hooks.cancel.get() {
            return Err(Error::Backend(CANCELLED.to_string()));
        }
        Ok(())
    }
}

impl<B: WorkerBackend> Backend for YieldingBackend<B> {
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
        self.gate().await?;
        self.inner.forward(steps).await
    }
    async fn forward_mixed(
        &mut self,
        steps: &[RowStep<'_>],
        reads: &[MixRead],
    ) -> Result<Vec<Mixed>> {
        self.gate().await?;
        self.inner.forward_mixed(steps, reads).await
    }
    fn counters(&self) -> BackendCounters {
        self.inner.counters()
    }
}
