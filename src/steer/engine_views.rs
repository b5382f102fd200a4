//! `EngineViews`: a run's views on rows of a backend (PDD paper §3, MPG
//! paper §3.3: every method's views evaluated together). Each prompt starts
//! from the longest prefix the engine's prefix cache (earlier runs' rows,
//! `engine::prefix_cache`) or the run's first view holds, the rest is
//! prefilled in one batched call (with the method's first decision read
//! with it, or, deferred, each view's last prompt token left until a method
//! `ensure`s it), and the rows go back to the cache when the views are
//! dropped.

use super::view_model::{Cost, PrefillStats, ViewModel, ViewSpec};
use crate::backend::{Backend, LogProbs, MixRead, Mixed, Readout, RowId, RowStep};
use crate::engine::memo::{Importance, MemoKey, RunCache};
use crate::engine::prefix_cache::common_prefix;
use crate::{Error, Result};

/// Views on rows of a backend. Rows come from the engine's prefix cache
/// where it holds a prefix of their prompt, and go back to it when the
/// views are dropped (unless a backend call failed: their contents are then
/// unknown, and they are freed).
pub struct EngineViews<'b, B: Backend> {
    backend: &'b mut B,
    cache: &'b mut RunCache,
    specs: Vec<ViewSpec>,
    rows: Vec<RowId>,
    /// Each view's last prompt token, then its generated tokens (what `reread` evaluates again).
    tokens: Vec<Vec<u32>>,
    next: Vec<Vec<f32>>,
    /// The answer to `new`'s `first` reads, until taken.
    first_read: Option<Vec<Mixed>>,
    cost: Cost,
    /// A backend call failed: the rows' contents are unknown.
    failed: bool,
    /// Views whose prompt's last token is not evaluated yet (`ensure`).
    pending: Vec<bool>,
    /// Copies of cached prefixes made for views that share an entry with
    /// another view of the run, until the view takes its row.
    lent: Vec<Option<(RowId, usize)>>,
    pub prefill: PrefillStats,
}

impl<'b, B: Backend> EngineViews<'b, B> {
    /// Prefills every view, computing only what neither the prefix cache
    /// nor another view of this run holds. Each view starts from the
    /// longest cached prefix of its prompt under its adapter mix. When the
    /// first view would give another view a longer prefix than the cache
    /// does (same mix: a cache computed under other weights is no use), the
    /// first view is prefilled alone and the others fork from it; then all
    /// views with prompt tokens left take them in one batched call. With
    /// `first` reads, the last call also takes the first view's last prompt
    /// token and answers them (`take_first`): the first decision reads back
    /// a few words instead of a vocabulary per view, and `next` stays
    /// unknown until `reread`.
    pub async fn new(
        backend: &'b mut B,
        cache: &'b mut RunCache,
        views: &[ViewSpec],
        first: &[MixRead],
    ) -> Result<Self> {
        Self::start(backend, cache, views, first, false).await
    }

    /// Like `new` without first reads, for a method that may read only some
    /// of its views (PDD with its importance kept): a view whose cached
    /// prefix leaves only its last prompt token is not evaluated until
    /// `ensure` asks for it. On a re-run this prefills nothing at once.
    pub async fn new_deferred(
        backend: &'b mut B,
        cache: &'b mut RunCache,
        views: &[ViewSpec],
    ) -> Result<Self> {
        Self::start(backend, cache, views, &[], true).await
    }

    async fn start(
        backend: &'b mut B,
        cache: &'b mut RunCache,
        views: &[ViewSpec],
        first: &[MixRead],
        defer: bool,
    ) -> Result<Self> {
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
        let mut this = Self {
            backend,
            cache,
            specs: views.to_vec(),
            rows: Vec::with_capacity(views.len()),
            tokens: views
                .iter()
                .map(|v| vec![v.prompt[v.prompt.len() - 1]])
                .collect(),
            next: vec![Vec::new(); views.len()],
            first_read: None,
            cost: Cost::default(),
            failed: false,
            pending: vec![false; views.len()],
            lent: vec![None; views.len()],
            prefill: PrefillStats {
                positions_unshared: views.iter().map(|v| v.prompt.len()).sum(),
                ..PrefillStats::default()
            },
        };
        match this.prefill(first, defer).await {
            Ok(()) => Ok(this),
            Err(e) => {
                this.failed = true;
                Err(e)
            }
        }
    }

    /// A row for `view` holding the longest cached prefix of its prompt (at
    /// most `max_len` positions), or a new row; returns where it starts.
    fn cached_row(&mut self, view: usize, max_len: usize) -> Result<usize> {
        if let Some((row, len)) = self.lent[view].take() {
            self.rows.push(row);
            self.prefill.cached += len;
            return Ok(len);
        }
        let spec = &self.specs[view];
        let start = self
            .cache
            .prefix
            .start(self.backend, &spec.prompt, &spec.mix, max_len)?;
        let (row, len) = match start {
            Some(s) => (s.row, s.len),
            None => {
                let row = self.backend.new_row()?;
                if let Err(e) = self.backend.set_row_adapters(row, &spec.mix) {
                    self.backend.free_row(row);
                    return Err(e);
                }
                (row, 0)
            }
        };
        self.rows.push(row);
        self.prefill.cached += len;
        Ok(len)
    }

    /// Where views that start from the cache share an entry, every one but
    /// the view using most of it copies its prefix now: the one that takes
    /// the entry afterwards cannot leave them without it.
    fn lend_shared(&mut self, views: &[usize]) -> Result<()> {
        let claims: Vec<(usize, RowId, usize)> = views
            .iter()
            .filter_map(|&v| {
                let spec = &self.specs[v];
                self.cache
                    .prefix
                    .lookup(&spec.prompt, &spec.mix, spec.prompt.len() - 1)
                    .map(|(entry, len)| (v, entry, len))
            })
            .collect();
        for &(v, entry, len) in &claims {
            let taker = claims
                .iter()
                .filter(|c| c.1 == entry)
                .max_by_key(|c| (c.2, std::cmp::Reverse(c.0)))
                .map(|c| c.0);
            if taker != Some(v) {
                let row = self.cache.prefix.lend(self.backend, entry, len)?;
                self.lent[v] = Some((row, len));
            }
        }
        Ok(())
    }

    /// Positions the first view gives `v` (0 under another mix), and those
    /// the cache gives it, each at most all but its last prompt token.
    fn sources(&self, v: usize, fed0: usize) -> (usize, usize) {
        let spec = &self.specs[v];
        let room = spec.prompt.len() - 1;
        let from_first = if spec.mix == self.specs[0].mix {
            common_prefix(&self.specs[0].prompt, &spec.prompt)
                .min(room)
                .min(fed0)
        } else {
            0
        };
        let cached = self.cache.prefix.peek(&spec.prompt, &spec.mix).min(room);
        (from_first, cached)
    }

    async fn prefill(&mut self, first: &[MixRead], defer: bool) -> Result<()> {
        let lazy = !first.is_empty();
        let views = self.specs.len();
        let n0 = self.specs[0].prompt.len();
        // Prompt positions of the first view computed before the others.
        let fed0 = if lazy && views > 1 { n0 - 1 } else { n0 };
        let two_phase = (1..views).any(|v| {
            let (from_first, cached) = self.sources(v, fed0);
            from_first > cached
        });
        let from_cache: Vec<usize> = (0..views)
            .filter(|&v| {
                let (from_first, cached) = self.sources(v, fed0);
                v == 0 || !two_phase || from_first <= cached
            })
            .collect();
        self.lend_shared(&from_cache)?;
        let mut starts = Vec::with_capacity(views);
        if two_phase {
            let s0 = self.cached_row(0, n0 - 1)?;
            starts.push(fed0);
            if s0 < fed0 {
                let out = self
                    .backend
                    .forward(&[RowStep {
                        row: self.rows[0],
                        tokens: &self.specs[0].prompt[s0..fed0],
                        readout: if lazy { Readout::None } else { Readout::Last },
                    }])
                    .await?;
                if !lazy {
                    self.next[0] = out[0].last().to_vec();
                }
                self.prefill.calls += 1;
                self.prefill.positions += fed0 - s0;
            }
            for v in 1..views {
                let (from_first, cached) = self.sources(v, fed0);
                if from_first > cached {
                    self.rows
                        .push(self.backend.fork_row(self.rows[0], from_first)?);
                    starts.push(from_first);
                } else {
                    starts.push(self.cached_row(v, self.specs[v].prompt.len() - 1)?);
                }
            }
        } else {
            for v in 0..views {
                starts.push(self.cached_row(v, self.specs[v].prompt.len() - 1)?);
            }
        }
        // The last call: every view with prompt tokens left (with first
        // reads, that is every view), but those deferred with only their
        // last token left.
        self.pending = starts
            .iter()
            .zip(&self.specs)
            .map(|(&start, spec)| defer && start + 1 == spec.prompt.len())
            .collect();
        let in_last: Vec<usize> = (0..views)
            .filter(|&v| starts[v] < self.specs[v].prompt.len() && !self.pending[v])
            .collect();
        let steps: Vec<RowStep> = in_last
            .iter()
            .map(|&v| RowStep {
                row: self.rows[v],
                tokens: &self.specs[v].prompt[starts[v]..],
                readout: Readout::Last,
            })
            .collect();
        self.prefill.positions += steps.iter().map(|s| s.tokens.len()).sum::<usize>();
        if lazy {
            debug_assert_eq!(in_last.len(), views, "every view reads");
            self.first_read = Some(self.backend.forward_mixed(&steps, first).await?);
            self.prefill.calls += 1;
        } else if !steps.is_empty() {
            let out = self.backend.forward(&steps).await?;
            for (&v, lp) in in_last.iter().zip(&out) {
                self.next[v] = lp.last().to_vec();
            }
            self.prefill.calls += 1;
        }
        self.cost = Cost {
            forward_calls: self.prefill.calls as u64,
            row_evaluations: views as u64,
            token_evaluations: views as u64,
        };
        Ok(())
    }

    /// The key of results computed from these views' prompts alone.
    fn memo_key(&self, setting: usize) -> MemoKey {
        MemoKey {
            views: self
                .specs
                .iter()
                .map(|s| (s.prompt.clone(), s.mix.clone()))
                .collect(),
            setting,
        }
    }

    /// A backend result; a failure marks the rows' contents unknown.
    fn checked<T>(&mut self, r: Result<T>) -> Result<T> {
        self.failed |= r.is_err();
        r
    }

    /// The steps that append `items` to their views' rows; refused while a
    /// view's last prompt token is pending.
    fn append_steps<'t>(
        &self,
        items: &[(usize, &'t [u32])],
        readout: Readout,
    ) -> Result<Vec<RowStep<'t>>> {
        self.ready(items.iter().map(|&(v, _)| v))?;
        Ok(items
            .iter()
            .map(|&(v, tokens)| RowStep {
                row: self.rows[v],
                tokens,
                readout,
            })
            .collect())
    }

    /// Records `items` as appended by one batched call.
    fn appended(&mut self, items: &[(usize, &[u32])]) {
        for &(v, tokens) in items {
            self.tokens[v].extend_from_slice(tokens);
        }
        self.cost.call(items.iter().map(|(_, t)| t.len()));
    }

    /// Refuses to read or extend a view whose last prompt token is pending.
    fn ready(&self, views: impl IntoIterator<Item = usize>) -> Result<()> {
        match views.into_iter().find(|&v| self.pending[v]) {
            Some(v) => Err(Error::Backend(format!(
                "view {v} was used before `ensure` evaluated its prompt's last token"
            ))),
            None => Ok(()),
        }
    }
}

impl<B: Backend> Drop for EngineViews<'_, B> {
    /// The rows go to the prefix cache, holding their prompt and generated
    /// tokens; after a failed call they are freed.
    fn drop(&mut self) {
        for (row, _) in self.lent.iter().flatten() {
            self.backend.free_row(*row);
        }
        for (v, &row) in self.rows.iter().enumerate() {
            let spec = &self.specs[v];
            let mut held = spec.prompt[..spec.prompt.len() - 1].to_vec();
            if !self.pending[v] {
                held.extend_from_slice(&self.tokens[v]);
            }
            if self.failed || self.backend.row_len(row).ok() != Some(held.len()) {
                self.backend.free_row(row);
            } else {
                self.cache
                    .prefix
                    .admit(self.backend, row, held, spec.mix.clone());
            }
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
        (self.backend.row_len(self.rows[view]).unwrap_or(0))
            .saturating_sub(self.specs[view].prompt.len())
    }

    fn next(&self, view: usize) -> &[f32] {
        &self.next[view]
    }

    async fn append(
        &mut self,
        items: &[(usize, &[u32])],
        readout: Readout,
    ) -> Result<Vec<LogProbs>> {
        let steps = self.append_steps(items, readout)?;
        let out = self.backend.forward(&steps).await;
        let out = self.checked(out)?;
        self.appended(items);
        for (&(v, _), lp) in items.iter().zip(&out) {
            self.next[v] = if readout.is_dense() {
                lp.last().to_vec()
            } else {
                Vec::new()
            };
        }
        Ok(out)
    }

    async fn append_mixed(
        &mut self,
        items: &[(usize, &[u32])],
        reads: &[MixRead],
    ) -> Result<Vec<Mixed>> {
        let steps = self.append_steps(items, Readout::Last)?;
        let out = self.backend.forward_mixed(&steps, reads).await;
        let out = self.checked(out)?;
        self.appended(items);
        for &(v, _) in items {
            self.next[v] = Vec::new();
        }
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
            // A pending view's last token was never evaluated.
            let keep = if self.pending[v] { len } else { len - 1 };
            let truncated = self.backend.truncate_row(row, keep);
            self.checked(truncated)?;
            steps.push(RowStep {
                row,
                tokens: t,
                readout: Readout::Last,
            });
        }
        let out = self.backend.forward(&steps).await;
        let out = self.checked(out)?;
        for (&v, lp) in views.iter().zip(out) {
            self.next[v] = lp.last().to_vec();
            self.pending[v] = false;
        }
        self.cost.call(views.iter().map(|_| 1));
        Ok(())
    }

    /// The pending views' last prompt tokens in one call: prefill work,
    /// counted in `prefill`, not in `cost`.
    async fn ensure(&mut self, views: &[usize]) -> Result<()> {
        let todo: Vec<usize> = views.iter().copied().filter(|&v| self.pending[v]).collect();
        if todo.is_empty() {
            return Ok(());
        }
        let steps: Vec<RowStep> = todo
            .iter()
            .map(|&v| RowStep {
                row: self.rows[v],
                tokens: &self.tokens[v][..1],
                readout: Readout::Last,
            })
            .collect();
        let out = self.backend.forward(&steps).await;
        let out = self.checked(out)?;
        for (&v, lp) in todo.iter().zip(out) {
            self.next[v] = lp.last().to_vec();
            self.pending[v] = false;
        }
        self.prefill.positions += todo.len();
        self.prefill.calls += 1;
        Ok(())
    }

    fn take_first(&mut self) -> Option<Vec<Mixed>> {
        self.first_read.take()
    }

    fn truncate(&mut self, view: usize, len: usize, next: Vec<f32>) -> Result<()> {
        self.ready([view])?;
        let truncated = self
            .backend
            .truncate_row(self.rows[view], self.specs[view].prompt.len() + len);
        self.checked(truncated)?;
        self.tokens[view].truncate(1 + len);
        self.next[view] = next;
        Ok(())
    }

    fn cost(&self) -> Cost {
        self.cost
    }

    fn recall_importance(&mut self, pie_tokens: usize) -> Option<Importance> {
        let key = self.memo_key(pie_tokens);
        self.cache.importance.get(&key)
    }

    fn keep_importance(&mut self, pie_tokens: usize, importance: Importance) {
        let key = self.memo_key(pie_tokens);
        self.cache.importance.put(key, importance);
    }
}
