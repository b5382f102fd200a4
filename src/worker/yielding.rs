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
//! before the next batched forward, i.e. within one token or one chunk. It
//! also counts forwards and notes when the last of the prompts' prefill
//! ended (how many that is, the caller asks the engine:
//! `steer::view_model::prefill_calls`), for the decode-only rate.

use std::cell::Cell;
use std::rc::Rc;

use super::backends::WorkerBackend;
use super::yield_now::yield_now;
use crate::backend::{
    AdapterId, Backend, BackendCounters, LogProbs, MixRead, Mixed, RowId, RowStep,
};
use crate::engine::clock::now_ms;
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
    /// How many forwards make the prompts' prefill (0: nobody times it).
    pub prefill_calls: usize,
    /// When the last of them ended, ms.
    pub prefill_end: Rc<Cell<Option<f64>>>,
    /// Forwards so far.
    pub forwards: Rc<Cell<usize>>,
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

    /// After a forward: count it, and note when the prefill's last ended.
    fn ended(&self) {
        let n = self.hooks.forwards.get() + 1;
        self.hooks.forwards.set(n);
        if n == self.hooks.prefill_calls {
            self.hooks.prefill_end.set(Some(now_ms()));
        }
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
        let out = self.inner.forward(steps).await;
        self.ended();
        out
    }
    async fn forward_mixed(
        &mut self,
        steps: &[RowStep<'_>],
        reads: &[MixRead],
    ) -> Result<Vec<Mixed>> {
        self.gate().await?;
        let out = self.inner.forward_mixed(steps, reads).await;
        self.ended();
        out
    }
    fn counters(&self) -> BackendCounters {
        self.inner.counters()
    }
}
