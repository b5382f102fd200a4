//! A tiny tabular language model for exact tests of the policies: every
//! view's next-token distribution is a known function of the view and the
//! generated tokens, so targets can be computed by hand (or enumeration).

use std::future::Future;

use super::view_model::{Cost, ViewModel};
use crate::backend::{LogProbs, Mix, MixRead, Mixed, Readout};
use crate::Result;

pub type Table = Box<dyn Fn(usize, &[u32]) -> Vec<f64>>;

pub struct TabularViews {
    vocab: usize,
    table: Table,
    seqs: Vec<Vec<u32>>,
    next: Vec<Vec<f32>>,
    cost: Cost,
    /// Candidate reads (`Mix::Row`) return the whole vocabulary, whatever
    /// `k` they ask for (every nucleus is covered: the dense reference of a
    /// sparse run).
    whole_reads: bool,
}

/// A 100-token table for sparse read-outs: every view flat after token 1
/// (a top-0.9 nucleus of 90 tokens: past the 64 candidates read back),
/// else token 1 and the six tokens `≡ view (mod 17)` 51 times likelier
/// than the rest.
pub fn flat_after_one(view: usize, seq: &[u32]) -> Vec<f64> {
    let w: Vec<f64> = (0..100u32)
        .map(|i| {
            if seq.last() != Some(&1) && (i == 1 || i % 17 == view as u32) {
                51.0
            } else {
                1.0
            }
        })
        .collect();
    let z: f64 = w.iter().sum();
    w.into_iter().map(|x| x / z).collect()
}

impl TabularViews {
    /// `table(view, generated)` returns next-token probabilities (summing to 1).
    pub fn new(vocab: usize, views: usize, table: Table) -> Self {
        let next = (0..views).map(|v| Self::logp(&table, v, &[])).collect();
        Self {
            vocab,
            table,
            seqs: vec![Vec::new(); views],
            next,
            cost: Cost::default(),
            whole_reads: false,
        }
    }

    /// The same views, with mixed reads of the whole vocabulary.
    pub fn with_whole_reads(self) -> Self {
        Self {
            whole_reads: true,
            ..self
        }
    }

    fn logp(table: &Table, view: usize, seq: &[u32]) -> Vec<f32> {
        table(view, seq)
            .into_iter()
            .map(|p| (p.ln()) as f32)
            .collect()
    }
}

impl ViewModel for TabularViews {
    fn vocab(&self) -> usize {
        self.vocab
    }

    fn views(&self) -> usize {
        self.seqs.len()
    }

    fn len(&self, view: usize) -> usize {
        self.seqs[view].len()
    }

    fn next(&self, view: usize) -> &[f32] {
        &self.next[view]
    }

    fn append(
        &mut self,
        items: &[(usize, &[u32])],
        readout: Readout,
    ) -> impl Future<Output = Result<Vec<LogProbs>>> {
        let mut out = Vec::new();
        for &(v, tokens) in items {
            let wanted = readout.positions(tokens.len());
            let mut data = Vec::new();
            for (i, &t) in tokens.iter().enumerate() {
                self.seqs[v].push(t);
                if wanted.contains(&i) {
                    data.extend(Self::logp(&self.table, v, &self.seqs[v]));
                }
            }
            // Like a real backend: a sparse read-out leaves `next` unknown
            // until the view is truncated (a policy reading it fails here).
            self.next[v] = if readout.is_dense() {
                Self::logp(&self.table, v, &self.seqs[v])
            } else {
                Vec::new()
            };
            out.push(LogProbs::from_dense(self.vocab, readout, tokens, data));
        }
        self.cost.call(items.iter().map(|(_, t)| t.len()));
        std::future::ready(Ok(out))
    }

    fn append_mixed(
        &mut self,
        items: &[(usize, &[u32])],
        reads: &[MixRead],
    ) -> impl Future<Output = Result<Vec<Mixed>>> {
        let vocab = self.vocab;
        let checked: Result<()> = reads.iter().try_for_each(|r| {
            r.check(items.len())?;
            match items.iter().find(|(_, t)| t.is_empty()) {
                Some(_) => Err(crate::Error::InvalidInput(
                    "a read of a view with no new token".into(),
                )),
                None => Ok(()),
            }
        });
        let out = checked.map(|()| {
            // Every item's log-probs after its last new token, then each read.
            let rows: Vec<Vec<f32>> = items
                .iter()
                .map(|&(v, tokens)| {
                    self.seqs[v].extend_from_slice(tokens);
                    self.next[v] = Vec::new();
                    Self::logp(&self.table, v, &self.seqs[v])
                })
                .collect();
            self.cost.call(items.iter().map(|(_, t)| t.len()));
            let at: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
            reads
                .iter()
                .map(|r| {
                    if self.whole_reads && matches!(r.mix, Mix::Row { .. }) {
                        MixRead {
                            k: vocab,
                            ..r.clone()
                        }
                        .read(&at)
                    } else {
                        r.read(&at)
                    }
                })
                .collect()
        });
        std::future::ready(out)
    }

    fn reread(&mut self, views: &[usize]) -> impl Future<Output = Result<()>> {
        for &v in views {
            self.next[v] = Self::logp(&self.table, v, &self.seqs[v]);
        }
        self.cost.call(views.iter().map(|_| 1));
        std::future::ready(Ok(()))
    }

    fn take_first(&mut self) -> Option<Vec<Mixed>> {
        None
    }

    fn truncate(&mut self, view: usize, len: usize, next: Vec<f32>) -> Result<()> {
        self.seqs[view].truncate(len);
        if !next.is_empty() {
            assert_eq!(
                next,
                Self::logp(&self.table, view, &self.seqs[view]),
                "truncate got the wrong next distribution"
            );
        }
        self.next[view] = next;
        Ok(())
    }

    fn cost(&self) -> Cost {
        self.cost
    }
}

/// Pearson's chi-square statistic of `counts` against `probs` (expected
/// counts below 5 are merged into one cell; infinite when an outcome of
/// probability 0 was drawn) and its degrees of freedom.
pub fn chi_square(counts: &[u64], probs: &[f64]) -> (f64, usize) {
    let total: u64 = counts.iter().sum();
    let (mut stat, mut cells) = (0f64, 0usize);
    let (mut small_obs, mut small_exp) = (0f64, 0f64);
    for (&c, &p) in counts.iter().zip(probs) {
        let e = p * total as f64;
        if p == 0.0 && c > 0 {
            // An outcome with probability 0 was drawn: no fit at all.
            stat = f64::INFINITY;
        }
        if e < 5.0 {
            small_obs += c as f64;
            small_exp += e;
        } else {
            stat += (c as f64 - e).powi(2) / e;
            cells += 1;
        }
    }
    if small_exp > 0.0 {
        stat += (small_obs - small_exp).powi(2) / small_exp;
        cells += 1;
    }
    (stat, cells - 1)
}

/// Upper 1% critical value of chi-square with `df` degrees of freedom: the
/// table for 1..=20, the Wilson-Hilferty approximation above (within 0.1%
/// there).
pub fn chi_square_critical_001(df: usize) -> f64 {
    if df <= 20 {
        return [
            6.635, 9.210, 11.345, 13.277, 15.086, 16.812, 18.475, 20.090, 21.666, 23.209, 24.725,
            26.217, 27.688, 29.141, 30.578, 32.000, 33.409, 34.805, 36.191, 37.566,
        ][df - 1];
    }
    let (k, z) = (df as f64, 2.326_348);
    let h = 2.0 / (9.0 * k);
    k * (1.0 - h + z * h.sqrt()).powi(3)
}

/// Asserts that `counts` fit the distribution proportional to `weights`
/// (chi-square at significance 0.01).
pub fn assert_fits(counts: &[u64], weights: &[f64], what: &str) {
    let z: f64 = weights.iter().sum();
    let probs: Vec<f64> = weights.iter().map(|w| w / z).collect();
    let (stat, df) = chi_square(counts, &probs);
    assert!(
        stat < chi_square_critical_001(df),
        "{what}: chi2 {stat:.2} with {df} df; counts {counts:?} vs {probs:?}"
    );
}
