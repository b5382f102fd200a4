//! The compute interface every backend implements: rows (one per view), each
//! with its own KV cache and length; one batched forward evaluates any number
//! of rows and any number of new positions per row, reading each weight once,
//! and returns log-probs where asked. Async because WebGPU readback is.

pub mod cpu;
mod mix;
mod readout;
pub mod rope;
pub mod webgpu;

pub use crate::dist::top_k;
pub use mix::{pdd_reward, read_all, Mix, MixRead, Mixed, MAX_MIX_ROWS, MPG_FLOOR};
pub use readout::{LogProbs, Readout, MAX_TOP_K};

use std::future::Future;

use crate::model::LlamaConfig;
use crate::Result;

/// A row of the batch: one view's KV cache. Ids are reused after `free_row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RowId(pub usize);

/// An adapter loaded into a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct AdapterId(pub usize);

/// New tokens for one row in a batched forward.
#[derive(Debug, Clone, Copy)]
pub struct RowStep<'a> {
    pub row: RowId,
    pub tokens: &'a [u32],
    pub readout: Readout,
}

/// Counters a method reports as its cost (the paper's Table 3, and ours).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct BackendCounters {
    /// Batched forward calls: each reads the weights once.
    pub forward_calls: u64,
    /// Rows evaluated, summed over calls (the paper's "model evaluations").
    pub row_evaluations: u64,
    /// Token positions pushed through the network.
    pub positions: u64,
}

/// Checks one batched forward before any compute, the same way for every
/// backend: each row at most once, no read-out without a new token, token ids
/// inside the vocabulary, and every row still inside the context.
pub fn validate_steps(
    config: &LlamaConfig,
    steps: &[RowStep<'_>],
    row_len: impl Fn(RowId) -> Result<usize>,
) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in steps {
        let len = row_len(s.row)?;
        if !seen.insert(s.row) {
            return Err(crate::Error::Backend(format!(
                "row {} appears twice in one forward",
                s.row.0
            )));
        }
        if let Readout::TopK(k) = s.readout {
            if k == 0 || k > MAX_TOP_K.min(config.vocab) {
                return Err(crate::Error::InvalidInput(format!(
                    "top-k read-out of {k} tokens: ask for 1 to {MAX_TOP_K}"
                )));
            }
        }
        if s.tokens.is_empty() && s.readout != Readout::None {
            return Err(crate::Error::Backend(format!(
                "row {} asks for log-probs of no new token",
                s.row.0
            )));
        }
        if let Some(&t) = s.tokens.iter().find(|&&t| t as usize >= config.vocab) {
            return Err(crate::Error::InvalidInput(format!(
                "token id {t} is outside the vocabulary ({})",
                config.vocab
            )));
        }
        if len + s.tokens.len() > config.context {
            return Err(crate::Error::ContextOverflow {
                tokens: len + s.tokens.len(),
                context: config.context,
            });
        }
    }
    Ok(())
}

/// Checks a mixed call's reads before any compute: each read valid for the
/// steps' rows, and every step with a new position to read.
pub fn check_mixed(steps: &[RowStep<'_>], reads: &[MixRead]) -> Result<()> {
    if reads.is_empty() {
        return Err(crate::Error::InvalidInput(
            "a mixed call with no read".into(),
        ));
    }
    if let Some(s) = steps.iter().find(|s| s.tokens.is_empty()) {
        return Err(crate::Error::InvalidInput(format!(
            "row {} has no new token; a mix reads each row's last new position",
            s.row.0
        )));
    }
    reads.iter().try_for_each(|r| r.check(steps.len()))
}

/// The compute behind the engine: the CPU backend now, WebGPU next.
pub trait Backend {
    /// Human-readable name shown in the page and the CLI ("cpu (avx2)", ...).
    fn name(&self) -> String;
    fn config(&self) -> &LlamaConfig;
    fn new_row(&mut self) -> Result<RowId>;
    /// A new row holding the first `len` cached positions of `src`.
    fn fork_row(&mut self, src: RowId, len: usize) -> Result<RowId>;
    /// Forgets every cached position from `len` on.
    fn truncate_row(&mut self, row: RowId, len: usize) -> Result<()>;
    fn free_row(&mut self, row: RowId);
    /// The row's LoRA mix `[(adapter, weight)]`, applied to its positions on
    /// top of the shared base matmuls (set before the row holds positions).
    fn set_row_adapters(&mut self, row: RowId, mix: &[(AdapterId, f32)]) -> Result<()>;
    /// Cached positions in `row`.
    fn row_len(&self, row: RowId) -> Result<usize>;
    /// Appends each step's tokens to its row (one weight read for all rows)
    /// and returns, per step, the log-probs its readout asked for.
    fn forward(&mut self, steps: &[RowStep<'_>]) -> impl Future<Output = Result<Vec<LogProbs>>>;
    /// Appends each step's tokens like `forward`, then answers each read:
    /// a mix of the steps' next-token distributions (in step order) at
    /// their last new position, its best `k` tokens with every row's
    /// log-prob at them (and its tempered mass). The default
    /// computes it from dense read-outs; a GPU backend does it on the device
    /// and reads back a few words per read.
    fn forward_mixed(
        &mut self,
        steps: &[RowStep<'_>],
        reads: &[MixRead],
    ) -> impl Future<Output = Result<Vec<Mixed>>> {
        async move {
            check_mixed(steps, reads)?;
            let dense: Vec<RowStep> = steps
                .iter()
                .map(|s| RowStep {
                    readout: Readout::Last,
                    ..*s
                })
                .collect();
            let rows = self.forward(&dense).await?;
            Ok(read_all(reads, &rows))
        }
    }
    fn counters(&self) -> BackendCounters;
}
