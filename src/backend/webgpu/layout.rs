//! Where a call's read-outs go: which positions the read-out pass handles
//! and in what order (dense rows, gathered scores, top-k rows by k, or rows
//! kept for a mix), and how the bytes read back split into each step's
//! [`LogProbs`].

use crate::backend::{LogProbs, Mixed, Readout, RowStep};

/// One read-out position, in the order the read-out pass handles them:
/// dense rows first, then gathered scores, then top-k rows (by k).
#[derive(Clone, Copy)]
pub(super) enum Read {
    /// A whole vocabulary, copied to staging.
    Dense,
    /// The log-prob of `target` (one word of the sparse buffer).
    Score { target: u32 },
    /// The best `k` (2k words of the sparse buffer).
    Top { k: u32 },
    /// Stays in the logits buffer for a mix (`forward_mixed`).
    Keep,
}

/// Where a call's read-outs land in the staging buffer.
#[derive(Default)]
pub(super) struct Layout {
    pub dense_positions: usize,
    pub sparse_words: usize,
}

impl Layout {
    /// Staging space of a call: dense positions, then sparse words (a
    /// mixed call: the top `k` pairs and every row's log-prob at them).
    pub(super) fn of(steps: &[RowStep<'_>], mix_k: Option<usize>) -> Self {
        let mut l = Self::default();
        if let Some(k) = mix_k {
            l.sparse_words = k * (2 + steps.len());
            return l;
        }
        for s in steps {
            let n = s.readout.positions(s.tokens.len()).len();
            match s.readout {
                Readout::None => {}
                Readout::Last | Readout::All => l.dense_positions += n,
                Readout::Score => l.sparse_words += n,
                Readout::TopK(k) => l.sparse_words += 2 * k,
            }
        }
        l
    }

    /// Every read-out position (token index in the call, kind) in the order
    /// of the read-out pass and the staging buffer: dense, scores, top-k by k.
    pub(super) fn reads(steps: &[RowStep<'_>], mixed: bool) -> Vec<(u32, Read)> {
        let (mut dense, mut scores, mut tops) = (Vec::new(), Vec::new(), Vec::new());
        let mut t0 = 0;
        if mixed {
            // Rows 0..n of the (single) logits chunk, in step order.
            return steps
                .iter()
                .map(|s| {
                    t0 += s.tokens.len();
                    ((t0 - 1) as u32, Read::Keep)
                })
                .collect();
        }
        for s in steps {
            let n = s.tokens.len();
            for i in s.readout.positions(n) {
                let t = (t0 + i) as u32;
                match s.readout {
                    Readout::None => {}
                    Readout::Last | Readout::All => dense.push((t, Read::Dense)),
                    Readout::Score => scores.push((
                        t,
                        Read::Score {
                            target: s.tokens[i + 1],
                        },
                    )),
                    Readout::TopK(k) => tops.push((t, Read::Top { k: k as u32 })),
                }
            }
            t0 += n;
        }
        // Stable: step order within one k.
        tops.sort_by_key(|&(_, r)| match r {
            Read::Top { k } => k,
            _ => 0,
        });
        dense.into_iter().chain(scores).chain(tops).collect()
    }

    /// Each step's read-out from the staging bytes, laid out as `reads`
    /// ordered them: dense rows, scores in step order, top-k rows by k (and
    /// step order within one k).
    pub(super) fn split(&self, steps: &[RowStep<'_>], vocab: usize, bytes: &[u8]) -> Vec<LogProbs> {
        let word = |i: usize| self::word(bytes, i);
        let f = |i: usize| f32::from_bits(word(i));
        let n_of = |s: &RowStep<'_>| s.readout.positions(s.tokens.len()).len();
        let mut at = vec![0; steps.len()];
        let mut dense_at = 0;
        let mut sparse_at = self.dense_positions * vocab;
        for (i, s) in steps.iter().enumerate() {
            if s.readout.is_dense() {
                at[i] = dense_at;
                dense_at += n_of(s) * vocab;
            } else if s.readout == Readout::Score {
                at[i] = sparse_at;
                sparse_at += n_of(s);
            }
        }
        let mut tops: Vec<(usize, usize)> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.readout {
                Readout::TopK(k) => Some((i, k)),
                _ => None,
            })
            .collect();
        tops.sort_by_key(|&(_, k)| k);
        for (i, k) in tops {
            at[i] = sparse_at;
            sparse_at += 2 * k;
        }
        steps
            .iter()
            .zip(at)
            .map(|(s, o)| {
                let n = n_of(s);
                match s.readout {
                    Readout::None => LogProbs::dense(vocab, Vec::new()),
                    Readout::Last | Readout::All => {
                        LogProbs::dense(vocab, (o..o + n * vocab).map(f).collect())
                    }
                    Readout::Score => LogProbs {
                        vocab,
                        scores: (o..o + n).map(f).collect(),
                        ..LogProbs::default()
                    },
                    Readout::TopK(k) => LogProbs {
                        vocab,
                        top: (0..k)
                            .map(|j| (word(o + 2 * j), f(o + 2 * j + 1)))
                            .collect(),
                        ..LogProbs::default()
                    },
                }
            })
            .collect()
    }

    /// A mixed call's read-out: the top `k` (token, log-prob) pairs, then
    /// each of the `rows` rows' log-probs at them (`plan::mix_ops`).
    pub(super) fn mixed(&self, rows: usize, k: usize, bytes: &[u8]) -> Mixed {
        let f = |i| f32::from_bits(word(bytes, i));
        Mixed {
            top: (0..k).map(|j| (word(bytes, 2 * j), f(2 * j + 1))).collect(),
            at_top: (0..rows)
                .map(|r| (0..k).map(|j| f(2 * k + r * k + j)).collect())
                .collect(),
        }
    }
}

/// Word `i` of the bytes read back.
fn word(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))
}
