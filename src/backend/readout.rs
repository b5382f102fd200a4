//! What a forward hands back per row. Dense read-outs return whole
//! vocabularies of log-probs; the sparse ones return only what a decoding
//! step needs — the log-probs of given tokens (teacher-forced scoring: PDD's
//! PIE, Seq-RS, the axis probe) or the best k tokens (greedy decoding, the
//! page's alternatives) — so that a GPU backend reads back a few bytes
//! instead of a vocabulary per position (issue 6: "keep the data on the GPU").

use crate::dist::top_k;

/// The most tokens a [`Readout::TopK`] may ask for.
pub const MAX_TOP_K: usize = 64;

/// Which new positions of a row need log-probs back, and in what form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readout {
    /// None (prefill of a prefix that only fills the cache).
    None,
    /// The whole vocabulary at the last new position (prompt prefill before sampling).
    Last,
    /// The whole vocabulary at every new position.
    All,
    /// Teacher forcing: at each new position but the last, the log-prob of
    /// the step's next token (`scores[i] = log p(tokens[i + 1] | … tokens[i])`).
    Score,
    /// The `k` most likely tokens at the last new position, best first (ties:
    /// lower id first, as `argmax`).
    TopK(usize),
}

impl Readout {
    /// New positions (of `n`) whose log-probs the read-out needs.
    pub fn positions(self, n: usize) -> std::ops::Range<usize> {
        match self {
            Readout::None => 0..0,
            Readout::Last | Readout::TopK(_) => n.saturating_sub(1)..n,
            Readout::All => 0..n,
            Readout::Score => 0..n.saturating_sub(1),
        }
    }

    /// Whether whole vocabularies travel back.
    pub fn is_dense(self) -> bool {
        matches!(self, Readout::Last | Readout::All)
    }
}

/// A row's read-out: dense log-probs (one vocabulary per position, for
/// `Last` / `All`), or the sparse `scores` / `top` of the other read-outs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogProbs {
    pub vocab: usize,
    pub data: Vec<f32>,
    /// `Score`: the log-prob of each next given token.
    pub scores: Vec<f32>,
    /// `TopK`: (token, log-prob), best first.
    pub top: Vec<(u32, f32)>,
}

impl LogProbs {
    /// Dense log-probs (`Last` / `All`).
    pub fn dense(vocab: usize, data: Vec<f32>) -> Self {
        Self {
            vocab,
            data,
            ..Self::default()
        }
    }

    /// The read-out `readout` asked for, from the dense log-probs of its
    /// [`Readout::positions`] (how backends that compute whole rows anyway,
    /// and the tabular test model, answer sparse read-outs).
    pub fn from_dense(vocab: usize, readout: Readout, tokens: &[u32], dense: Vec<f32>) -> Self {
        match readout {
            Readout::None | Readout::Last | Readout::All => Self::dense(vocab, dense),
            Readout::Score => Self {
                vocab,
                scores: dense
                    .chunks_exact(vocab)
                    .zip(&tokens[1..])
                    .map(|(row, &t)| row[t as usize])
                    .collect(),
                ..Self::default()
            },
            Readout::TopK(k) => Self {
                vocab,
                top: top_k(&dense, k),
                ..Self::default()
            },
        }
    }

    pub fn positions(&self) -> usize {
        self.data.len().checked_div(self.vocab).unwrap_or(0)
    }

    /// Log-probs at read-out position `i` (0 = first returned position).
    pub fn position(&self, i: usize) -> &[f32] {
        &self.data[i * self.vocab..(i + 1) * self.vocab]
    }

    /// Log-probs at the last returned position.
    pub fn last(&self) -> &[f32] {
        self.position(self.positions() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_reads_each_next_token_from_its_position() {
        // Two positions of a 3-token vocabulary; tokens [x, 2, 0].
        let dense = vec![0.1, 0.2, 0.3, 1.1, 1.2, 1.3];
        let lp = LogProbs::from_dense(3, Readout::Score, &[9, 2, 0], dense);
        assert_eq!(lp.scores, vec![0.3, 1.1]);
        assert!(lp.data.is_empty());
        assert_eq!(Readout::Score.positions(3), 0..2);
        assert_eq!(Readout::TopK(4).positions(3), 2..3);
    }
}
