//! Views as the decoding methods see them: several conditionings of one
//! model that share the generated tokens, each with its own next-token
//! log-probs (`ViewModel`). `engine_views.rs` puts them on backend rows;
//! the tests use a tabular model with known probabilities through the
//! same trait.

use std::future::Future;

use crate::backend::{AdapterId, LogProbs, MixRead, Mixed, Readout};
use crate::engine::memo::Importance;
use crate::Result;

/// What a decoding method may ask of its views.
pub trait ViewModel {
    fn vocab(&self) -> usize;
    fn views(&self) -> usize;
    /// Generated tokens appended to `view` so far.
    fn len(&self, view: usize) -> usize;
    /// Log-probs of `view`'s next token.
    fn next(&self, view: usize) -> &[f32];
    /// Appends tokens to several views in ONE batched evaluation; returns per
    /// item the log-probs after each appended token (`All`), after the last
    /// one (`Last`), or of each next appended token (`Score`: scoring a
    /// sequence, a few bytes instead of vocabularies). Dense read-outs update
    /// `next`; after `Score` it is unknown until the view is truncated.
    fn append(
        &mut self,
        items: &[(usize, &[u32])],
        readout: Readout,
    ) -> impl Future<Output = Result<Vec<LogProbs>>>;
    /// Appends tokens to several views in ONE batched evaluation and answers
    /// each read: a mix of their next distributions (in item order) after
    /// their last new token, its best tokens with each view's log-prob at
    /// them (and its tempered mass). PDD's, MOD's and MPG's
    /// per-step decisions without reading vocabularies back. `next` is
    /// unknown afterwards, as after `Score`.
    fn append_mixed(
        &mut self,
        items: &[(usize, &[u32])],
        reads: &[MixRead],
    ) -> impl Future<Output = Result<Vec<Mixed>>>;
    /// Makes `next` known again for each of `views` (after a sparse read-out
    /// or a truncation without it) by evaluating its last token again, in
    /// ONE batched evaluation: a sampler's exact fallback to the whole
    /// vocabulary.
    fn reread(&mut self, views: &[usize]) -> impl Future<Output = Result<()>>;
    /// Makes `next` known for each of `views` whose prompt's last token was
    /// left pending by a deferred prefill (`EngineViews::new_deferred`), in
    /// ONE batched evaluation; views already known are left alone. A view
    /// must be ensured before anything else reads or extends it.
    fn ensure(&mut self, _views: &[usize]) -> impl Future<Output = Result<()>> {
        std::future::ready(Ok(()))
    }
    /// The answer to reads asked for with the prompt prefill (before any
    /// token is generated), once: `None` when none were asked for, and
    /// every view's `next` is known instead.
    fn take_first(&mut self) -> Option<Vec<Mixed>>;
    /// Forgets `view`'s generated tokens from `len` on; `next` must be the
    /// log-probs that followed token `len - 1` (or the prompt when `len` =
    /// 0), or empty: unknown until `reread`.
    fn truncate(&mut self, view: usize, len: usize, next: Vec<f32>) -> Result<()>;
    /// Batched evaluations so far (weight reads) and rows evaluated (the
    /// paper's "model evaluations").
    fn cost(&self) -> Cost;
    /// PDD's importance kept from an earlier run over the same views'
    /// prompts with the same PIE length (`engine::memo`), if any.
    fn recall_importance(&mut self, _pie_tokens: usize) -> Option<Importance> {
        None
    }
    /// Keeps PDD's importance for later runs over the same views.
    fn keep_importance(&mut self, _pie_tokens: usize, _importance: Importance) {}
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Cost {
    /// Batched calls (each reads the weights once).
    pub forward_calls: u64,
    /// Row-calls: every row of every call once, however many positions it
    /// computes (the MPG paper's "forward passes" count a model call so).
    pub row_evaluations: u64,
    /// Token evaluations: rows × positions (the compute a call does).
    pub token_evaluations: u64,
}

impl Cost {
    pub fn since(self, start: Cost) -> Cost {
        Cost {
            forward_calls: self.forward_calls - start.forward_calls,
            row_evaluations: self.row_evaluations - start.row_evaluations,
            token_evaluations: self.token_evaluations - start.token_evaluations,
        }
    }

    /// Records one batched call of `items` (row, new positions).
    pub fn call(&mut self, items: impl IntoIterator<Item = usize>) {
        self.forward_calls += 1;
        for positions in items {
            self.row_evaluations += 1;
            self.token_evaluations += positions as u64;
        }
    }
}

/// Prefill accounting: positions computed, positions taken from the
/// prefix cache (earlier runs' rows), and what the prompts hold in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PrefillStats {
    pub positions: usize,
    pub positions_unshared: usize,
    pub cached: usize,
    /// Forward calls the prefill made (none to 2, and one per `ensure`
    /// that had work).
    pub calls: usize,
}

/// One view as the engine runs it: its prompt tokens and its LoRA mix.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSpec {
    pub prompt: Vec<u32>,
    pub mix: Vec<(AdapterId, f32)>,
}
