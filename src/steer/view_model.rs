//! Views as the decoding methods see them: several conditionings of one
//! model that share the generated tokens, each with its own next-token
//! log-probs. `EngineViews` puts them on backend rows (prompts prefilled in
//! one batched call, sharing common prefixes by forking); the tests use a
//! tabular model with known probabilities through the same trait.

use std::future::Future;

use crate::backend::{AdapterId, Backend, LogProbs, MixRead, Mixed, Readout, RowId, RowStep};
use crate::{Error, Result};

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
    /// each read: a mix of their next distributions (in item order) at one
    /// new position, its best tokens with each view's log-prob at them (and
    /// at named tokens, and its tempered mass). PDD's, MOD's and MPG's
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Cost {
    pub forward_calls: u64,
    pub row_evaluations: u64,
}

impl Cost {
    pub fn since(self, start: Cost) -> Cost {
        Cost {
            forward_calls: self.forward_calls - start.forward_calls,
            row_evaluations: self.row_evaluations - start.row_evaluations,
        }
    }
}

/// Prefill accounting: positions computed, and what they would have been
/// without sharing prompt prefixes.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PrefillStats {
    pub positions: usize,
    pub positions_unshared: usize,
}

/// One view as the engine runs it: its prompt tokens and its LoRA mix.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewSpec {
    pub prompt: Vec<u32>,
    pub mix: Vec<(AdapterId, f32)>,
}

/// Views on rows of a backend.
pub struct EngineViews<'b, B: Backend> {
    backend: &'b mut B,
    rows: Vec<RowId>,
    prompt_lens: Vec<usize>,
    /// Each view's last prompt token, then its generated tokens (what `reread` evaluates again).
    tokens: Vec<Vec<u32>>,
    next: Vec<Vec<f32>>,
    /// The answer to `new`'s `first` reads, until taken.
    first_read: Option<Vec<Mixed>>,
    cost: Cost,
    pub prefill: PrefillStats,
}

/// How many forward calls [`EngineViews::new`] makes to prefill `views`
/// views whose prompts have two tokens or more (every chat prompt): the
/// first view alone, then all the others in one more call; one view takes
/// one call. A caller timing the prefill (the worker's decode-only rate)
/// asks this instead of knowing the schedule.
pub(crate) fn prefill_calls(views: usize) -> usize {
    if views > 1 {
        2
    } else {
        1
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<'b, B: Backend> EngineViews<'b, B> {
    /// Prefills every view: the first alone, then all others in one batched
    /// call, each forked from the first at their common prefix when both use
    /// the same adapter mix (a cache computed under other weights is no use).
    /// With `first` reads, the last call also takes the first view's last
    /// prompt token and answers them (`take_first`): the first decision
    /// reads back a few words instead of a vocabulary per view, and `next`
    /// stays unknown until `reread`.
    pub async fn new(backend: &'b mut B, views: &[ViewSpec], first: &[MixRead]) -> Result<Self> {
        if views.is_empty() || views.iter().any(|v| v.prompt.is_empty()) {
            return Err(Error::InvalidInput(
                "every view needs a non-empty prompt".into(),
            ));
        }
        let context = backend.config().context;
        if let Some(v) = views.iter().find(|v| v.prompt.len() >= context) {
            return Err(Error::ContextOverflow {
                tokens: v.prompt.len(),
                context,
            });
        }
        let lazy = !first.is_empty();
        let n0 = views[0].prompt.len();
        // Prompt tokens of the first view fed by the first call.
        let fed0 = match (lazy, views.len()) {
            (false, _) => n0,
            (true, 1) => 0,
            (true, _) => n0 - 1,
        };
        let first_row = backend.new_row()?;
        backend.set_row_adapters(first_row, &views[0].mix)?;
        let mut rows = vec![first_row];
        let mut next = vec![Vec::new(); views.len()];
        let mut calls = 0;
        if fed0 > 0 {
            let out = backend
                .forward(&[RowStep {
                    row: first_row,
                    tokens: &views[0].prompt[..fed0],
                    readout: if lazy { Readout::None } else { Readout::Last },
                }])
                .await?;
            if !lazy {
                next[0] = out[0].last().to_vec();
            }
            calls += 1;
        }
        let mut prefill = PrefillStats {
            positions: n0,
            positions_unshared: views.iter().map(|v| v.prompt.len()).sum(),
        };
        let mut starts = vec![fed0];
        for v in &views[1..] {
            let shared = if v.mix == views[0].mix {
                common_prefix(&views[0].prompt, &v.prompt)
                    .min(v.prompt.len() - 1)
                    .min(fed0)
            } else {
                0
            };
            let row = if shared > 0 {
                backend.fork_row(first_row, shared)?
            } else {
                let row = backend.new_row()?;
                backend.set_row_adapters(row, &v.mix)?;
                row
            };
            rows.push(row);
            starts.push(shared);
            prefill.positions += v.prompt.len() - shared;
        }
        // The last call: every view with prompt tokens left.
        let skip = usize::from(!lazy);
        let steps: Vec<RowStep> = views
            .iter()
            .zip(&starts)
            .zip(&rows)
            .skip(skip)
            .map(|((v, &s), &row)| RowStep {
                row,
                tokens: &v.prompt[s..],
                readout: Readout::Last,
            })
            .collect();
        let mut first_read = None;
        if lazy {
            first_read = Some(backend.forward_mixed(&steps, first).await?);
            calls += 1;
        } else if !steps.is_empty() {
            let out = backend.forward(&steps).await?;
            for (n, lp) in next[1..].iter_mut().zip(&out) {
                *n = lp.last().to_vec();
            }
            calls += 1;
        }
        debug_assert!(
            views.iter().any(|v| v.prompt.len() < 2) || calls == prefill_calls(views.len()) as u64,
            "prefill_calls says the schedule"
        );
        Ok(Self {
            backend,
            rows,
            prompt_lens: views.iter().map(|v| v.prompt.len()).collect(),
            tokens: views
                .iter()
                .map(|v| vec![v.prompt[v.prompt.len() - 1]])
                .collect(),
            next,
            first_read,
            cost: Cost {
                forward_calls: calls,
                row_evaluations: views.len() as u64,
            },
            prefill,
        })
    }
}

impl<B: Backend> Drop for EngineViews<'_, B> {
    fn drop(&mut self) {
        for &row in &self.rows {
            self.backend.free_row(row);
        }
    }
}

impl<B: Backend> ViewModel for EngineViews<'_, B> {
    fn vocab(&self) -> usize {
        self.backend.config().vocab
    }

    fn views(&self) -> usize {
        self.rows.len()
    }

    fn len(&self, view: usize) -> usize {
        self.backend.row_len(self.rows[view]).unwrap_or(0) - self.prompt_lens[view]
    }

    fn next(&self, view: usize) -> &[f32] {
        &self.next[view]
    }

    async fn append(
        &mut self,
        items: &[(usize, &[u32])],
        readout: Readout,
    ) -> Result<Vec<LogProbs>> {
        let steps: Vec<RowStep> = items
            .iter()
            .map(|&(v, tokens)| RowStep {
                row: self.rows[v],
                tokens,
                readout,
            })
            .collect();
        let out = self.backend.forward(&steps).await?;
        for (&(v, tokens), lp) in items.iter().zip(&out) {
            self.tokens[v].extend_from_slice(tokens);
            self.next[v] = if readout.is_dense() {
                lp.last().to_vec()
            } else {
                Vec::new()
            };
        }
        self.cost.forward_calls += 1;
        self.cost.row_evaluations += items.len() as u64;
        Ok(out)
    }

    async fn append_mixed(
        &mut self,
        items: &[(usize, &[u32])],
        reads: &[MixRead],
    ) -> Result<Vec<Mixed>> {
        let steps: Vec<RowStep> = items
            .iter()
            .map(|&(v, tokens)| RowStep {
                row: self.rows[v],
                tokens,
                readout: Readout::Last,
            })
            .collect();
        let out = self.backend.forward_mixed(&steps, reads).await?;
        for &(v, tokens) in items {
            self.tokens[v].extend_from_slice(tokens);
            self.next[v] = Vec::new();
        }
        self.cost.forward_calls += 1;
        self.cost.row_evaluations += items.len() as u64;
        Ok(out)
    }

    async fn reread(&mut self, views: &[usize]) -> Result<()> {
        let last: Vec<[u32; 1]> = views
            .iter()
            .map(|&v| [*self.tokens[v].last().expect("a prompt token")])
            .collect();
        let mut steps = Vec::with_capacity(views.len());
        for (&v, t) in views.iter().zip(&last) {
            let row = self.rows[v];
            let len = self.backend.row_len(row)?;
            self.backend.truncate_row(row, len - 1)?;
            steps.push(RowStep {
                row,
                tokens: t,
                readout: Readout::Last,
            });
        }
        let out = self.backend.forward(&steps).await?;
        for (&v, lp) in views.iter().zip(out) {
            self.next[v] = lp.last().to_vec();
        }
        self.cost.forward_calls += 1;
        self.cost.row_evaluations += views.len() as u64;
        Ok(())
    }

    fn take_first(&mut self) -> Option<Vec<Mixed>> {
        self.first_read.take()
    }

    fn truncate(&mut self, view: usize, len: usize, next: Vec<f32>) -> Result<()> {
        self.backend
            .truncate_row(self.rows[view], self.prompt_lens[view] + len)?;
        self.tokens[view].truncate(1 + len);
        self.next[view] = next;
        Ok(())
    }

    fn cost(&self) -> Cost {
        self.cost
    }
}
