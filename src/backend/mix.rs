//! Per-step mixes of several rows' next-token distributions, evaluated where
//! the log-probs live: PDD's reweighting (PDD paper §3.3, ALGORITHMS.md
//! "PDD": `p(v) ∝ π(v|T) exp(R(v)/β)`) and MOD's weighted geometric mix
//! (MPG paper's baseline: `p(v) ∝ exp(Σ_i α_i log π_i(v))`). A GPU backend
//! combines, normalises and ranks the vocabulary on the device and reads
//! back only the best `k` tokens with every row's log-prob at them; the
//! functions here are the reference every backend must match (and what the
//! CPU backend runs).

use super::readout::{top_k, LogProbs};

/// The most rows a mix may combine.
pub const MAX_MIX_ROWS: usize = 16;

/// How rows `0..n` of a call combine per token `v`.
#[derive(Debug, Clone, PartialEq)]
pub enum Mix {
    /// `c(v) = Σ_i w_i lp_i(v)` (MOD).
    Linear { weights: Vec<f64> },
    /// Row 0 is `T`, row `1 + i` is `T_i`: `r_i = δ_i + lp_0(v) − lp_{1+i}(v)`,
    /// `R(v) = Σ_i w_i r_i / ‖r‖₂` (0 when `‖r‖₂ < 1e-6`), `c(v) = lp_0(v) + R(v)/β` (PDD).
    Pdd {
        weights: Vec<f64>,
        delta: Vec<f64>,
        beta: f64,
    },
}

/// What a mixed step reads back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mixed {
    /// The `k` best tokens of the normalised mix, best first (ties: lower id).
    pub top: Vec<(u32, f32)>,
    /// `at_top[r][j]`: row `r`'s log-prob of `top[j]`.
    pub at_top: Vec<Vec<f32>>,
}

impl Mix {
    /// Rows the mix reads.
    pub fn rows(&self) -> usize {
        match self {
            Mix::Linear { weights } => weights.len(),
            Mix::Pdd { weights, .. } => 1 + weights.len(),
        }
    }

    /// A one-line error for mixes no backend can run.
    pub fn check(&self, rows: usize) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::InvalidInput(m));
        if self.rows() != rows {
            return bad(format!("a mix over {} rows given {rows}", self.rows()));
        }
        if rows == 0 || rows > MAX_MIX_ROWS {
            return bad(format!(
                "a mix combines 1 to {MAX_MIX_ROWS} rows, not {rows}"
            ));
        }
        if let Mix::Pdd {
            weights,
            delta,
            beta,
        } = self
        {
            if delta.len() != weights.len() {
                return bad(format!(
                    "{} deltas for {} attributes",
                    delta.len(),
                    weights.len()
                ));
            }
            if !(*beta > 0.0 && beta.is_finite()) {
                return bad(format!("β must be positive, not {beta}"));
            }
        }
        Ok(())
    }

    /// `c(v)` from each row's log-prob of `v`.
    pub fn at(&self, lp: impl Fn(usize) -> f64) -> f64 {
        match self {
            Mix::Linear { weights } => weights.iter().enumerate().map(|(i, w)| w * lp(i)).sum(),
            Mix::Pdd {
                weights,
                delta,
                beta,
            } => {
                let full = lp(0);
                lp(0) + pdd_reward(full, |i| lp(1 + i), delta, weights) / beta
            }
        }
    }

    /// The normalised mix over the whole vocabulary.
    pub fn logp(&self, rows: &[&[f32]]) -> Vec<f64> {
        let mut c: Vec<f64> = (0..rows[0].len())
            .map(|v| self.at(|r| rows[r][v] as f64))
            .collect();
        let max = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = max + c.iter().map(|x| (x - max).exp()).sum::<f64>().ln();
        c.iter_mut().for_each(|x| *x -= lse);
        c
    }

    /// The read-out of a mixed step from dense rows (CPU backend, tests).
    pub fn read(&self, rows: &[LogProbs], k: usize) -> Mixed {
        let rows: Vec<&[f32]> = rows.iter().map(LogProbs::last).collect();
        let logp: Vec<f32> = self.logp(&rows).into_iter().map(|x| x as f32).collect();
        let top = top_k(&logp, k);
        let at_top = rows
            .iter()
            .map(|r| top.iter().map(|&(v, _)| r[v as usize]).collect())
            .collect();
        Mixed { top, at_top }
    }
}

/// PDD's `R(v)` from `lp_0(v)` and the leave-one-out log-probs `loo(i)`.
pub fn pdd_reward(full: f64, loo: impl Fn(usize) -> f64, delta: &[f64], weights: &[f64]) -> f64 {
    let (mut dot, mut norm2) = (0f64, 0f64);
    for (i, (d, w)) in delta.iter().zip(weights).enumerate() {
        let r = d + full - loo(i);
        dot += w * r;
        norm2 += r * r;
    }
    let norm = norm2.sqrt();
    if norm < 1e-6 {
        0.0
    } else {
        dot / norm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_mix_reads_the_best_tokens_and_every_row_at_them() {
        let a: Vec<f32> = [0.6f32, 0.3, 0.1].iter().map(|p| p.ln()).collect();
        let b: Vec<f32> = [0.2f32, 0.2, 0.6].iter().map(|p| p.ln()).collect();
        let mix = Mix::Linear {
            weights: vec![1.0, 1.0],
        };
        let rows = [LogProbs::dense(3, a.clone()), LogProbs::dense(3, b.clone())];
        let m = mix.read(&rows, 2);
        // 0.6·0.2 = 0.12, 0.3·0.2 = 0.06, 0.1·0.6 = 0.06: token 0, then 1 (tie, lower id).
        assert_eq!(m.top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!((m.top[0].1 - (0.12f32 / 0.24).ln()).abs() < 1e-6);
        assert_eq!(m.at_top, vec![vec![a[0], a[1]], vec![b[0], b[1]]]);
        assert!(mix.check(3).is_err());
    }
}
