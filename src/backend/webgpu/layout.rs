//! Where a call's read-outs go: which positions the read-out pass handles
//! and in what order (dense rows, gathered scores, top-k rows by k, or rows
//! kept for mixes, in passes that fit the logits buffer), and how the bytes
//! read back split into each step's [`LogProbs`] or each read's [`Mixed`].

use crate::backend::{LogProbs, Mix, MixRead, Mixed, Readout, RowStep};
use crate::Result;

/// Read-out positions per output-projection pass (bounds the logits buffer).
pub const LOGIT_CHUNK: usize = 64;

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

/// One pass of a call's read-out: the positions it brings into the logits
/// buffer (rows `0..positions.len()`), then its mixed reads.
pub(super) struct Pass {
    pub positions: Vec<(u32, Read)>,
    pub reads: Vec<MixedAt>,
}

/// Where one read of a mixed call runs and writes.
pub(super) struct MixedAt {
    /// Index into the call's reads.
    pub read: usize,
    /// Logits row of the first step's position (the rest follow in step order).
    pub base: u32,
    /// Logits row the mix is combined into (unused by `Mix::Row`).
    pub out_row: u32,
    /// First word of the read's output in the sparse buffer.
    pub out_off: u32,
}

/// Sparse words of one read over `rows` rows: the top `k` pairs, the
/// tempered mass, every row at the top tokens.
pub(super) fn read_words(r: &MixRead, rows: usize) -> usize {
    2 * r.k + usize::from(r.temperature.is_some()) + rows * r.k
}

/// The read-out pass of a mixed call: every step's last position, then a
/// logits row for each read that combines rows (a `Mix::Row` read ranks its
/// row where it is), all within the logits buffer's `LOGIT_CHUNK` rows.
pub(super) fn mixed_pass(steps: &[RowStep<'_>], reads: &[MixRead]) -> Result<Pass> {
    let rows = steps.len();
    let combined = reads
        .iter()
        .filter(|r| !matches!(r.mix, Mix::Row { .. }))
        .count();
    if rows + combined > LOGIT_CHUNK {
        return Err(crate::Error::InvalidInput(format!(
            "{rows} rows and {combined} mixes at one position exceed the {LOGIT_CHUNK} rows a read-out pass holds"
        )));
    }
    let mut end = 0;
    let positions = steps
        .iter()
        .map(|s| {
            end += s.tokens.len();
            ((end - 1) as u32, Read::Keep)
        })
        .collect();
    let (mut out_row, mut out_off) = (rows as u32, 0);
    let reads = reads
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = MixedAt {
                read: i,
                base: 0,
                out_row,
                out_off,
            };
            if !matches!(r.mix, Mix::Row { .. }) {
                out_row += 1;
            }
            out_off += read_words(r, rows) as u32;
            at
        })
        .collect();
    Ok(Pass { positions, reads })
}

/// Where a call's read-outs land in the staging buffer.
#[derive(Default)]
pub(super) struct Layout {
    pub dense_positions: usize,
    pub sparse_words: usize,
}

impl Layout {
    /// Staging space of a call: dense positions, then sparse words (a
    /// mixed call: each read's words, `read_words`).
    pub(super) fn of(steps: &[RowStep<'_>], mixed: Option<&[MixRead]>) -> Self {
        let mut l = Self::default();
        if let Some(reads) = mixed {
            l.sparse_words = reads.iter().map(|r| read_words(r, steps.len())).sum();
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
    pub(super) fn reads(steps: &[RowStep<'_>]) -> Vec<(u32, Read)> {
        let (mut dense, mut scores, mut tops) = (Vec::new(), Vec::new(), Vec::new());
        let mut t0 = 0;
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

    /// A mixed call's reads, each laid out as `read_words` counts them.
    pub(super) fn mixed(reads: &[MixRead], rows: usize, bytes: &[u8]) -> Vec<Mixed> {
        let f = |i| f32::from_bits(word(bytes, i));
        let mut o = 0;
        reads
            .iter()
            .map(|r| {
                let k = r.k;
                let top = (0..k)
                    .map(|j| (word(bytes, o + 2 * j), f(o + 2 * j + 1)))
                    .collect();
                let mut at = o + 2 * k;
                let mass = r.temperature.map(|_| {
                    at += 1;
                    f(at - 1) as f64
                });
                let m = Mixed {
                    top,
                    at_top: (0..rows)
                        .map(|row| (0..k).map(|j| f(at + row * k + j)).collect())
                        .collect(),
                    mass,
                };
                o += read_words(r, rows);
                m
            })
            .collect()
    }
}

/// Word `i` of the bytes read back.
fn word(bytes: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))
}
