//! Per-step mixes of several rows' next-token distributions, evaluated where
//! the log-probs live: PDD's reweighting (PDD paper §3.3, ALGORITHMS.md
//! "PDD": `p(v) ∝ π(v|T) exp(R(v)/β)`), MOD's weighted geometric mix (MPG
//! paper's baseline: `p(v) ∝ exp(Σ_i α_i log π_i(v))`), MPG's token-level
//! target (MPG paper §3.2: `π_ref · max(0, Σ_i α_i π_i/π_ref)`) and one row
//! as it is (a sampler's proposal). A GPU backend combines, normalises and
//! ranks the vocabulary on the device and reads back only the best `k`
//! tokens with every row's log-prob at them (and the tempered mass a
//! nucleus draw needs); the functions here
//! are the reference every backend must match (and what the CPU backend runs).

use super::readout::{LogProbs, MAX_TOP_K};
use crate::dist::{normalise, tempered, tempered_mass, top_k};

/// How far below the reference MPG's target puts tokens every expert
/// weighs to zero (`Σ α_i π_i ≤ 0`): out of reach of any token with mass,
/// yet ordered like the reference when no token has mass (all-negative α),
/// where the target falls back to the reference.
pub const MPG_FLOOR: f64 = 1000.0;

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
    /// Row 0 is the reference, row `1 + i` expert `i` with weight `α_i`
    /// (signed): `c(v) = log Σ_i α_i π_i(v)` where that sum is positive (the
    /// reference cancels from `π_ref · Σ α_i π_i/π_ref`), else
    /// `lp_0(v) − MPG_FLOOR` (MPG).
    Mpg { alpha: Vec<f64> },
    /// Row `row` as it is (`c(v) = lp_row(v)`): a proposal's candidates.
    Row { row: usize },
}

/// One mixed read-out of a call: a mix of every step's row at its last new
/// position, its best `k` tokens, every row's log-prob at them, and (with a
/// temperature) the tempered mass a nucleus draw needs.
#[derive(Debug, Clone, PartialEq)]
pub struct MixRead {
    pub mix: Mix,
    /// Best tokens read back, 1 to [`MAX_TOP_K`].
    pub k: usize,
    /// Also `Σ_v exp((c(v) − max c)/T)` of the normalised mix (see [`tempered_mass`]).
    pub temperature: Option<f32>,
    /// The top-p nucleus the candidates are for: a backend that holds whole
    /// rows anyway returns as many best tokens as it needs (more than `k`),
    /// so that a draw never has to read the rows again; a GPU returns `k`.
    pub cover: Option<f32>,
}

/// What a mixed read-out reads back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mixed {
    /// The `k` best tokens of the normalised mix, best first (ties: lower id).
    pub top: Vec<(u32, f32)>,
    /// `at_top[r][j]`: row `r`'s log-prob of `top[j]`.
    pub at_top: Vec<Vec<f32>>,
    /// The tempered mass, when the read gave a temperature.
    pub mass: Option<f64>,
}

impl MixRead {
    /// The best `k` tokens of `mix` at each step's last new position.
    pub fn top(mix: Mix, k: usize) -> Self {
        Self {
            mix,
            k,
            temperature: None,
            cover: None,
        }
    }

    /// Also the tempered mass at `temperature`.
    pub fn tempered(self, temperature: Option<f32>) -> Self {
        Self {
            temperature,
            ..self
        }
    }

    /// Candidates for a draw at `temperature` with nucleus `top_p`.
    pub fn nucleus(self, temperature: f32, top_p: f32) -> Self {
        Self {
            temperature: Some(temperature),
            cover: Some(top_p),
            ..self
        }
    }

    /// A one-line error for reads no backend can run over `rows` rows.
    pub fn check(&self, rows: usize) -> crate::Result<()> {
        self.mix.check(rows)?;
        if self.k == 0 || self.k > MAX_TOP_K {
            return Err(crate::Error::InvalidInput(format!(
                "a mixed read-out of {} tokens: ask for 1 to {MAX_TOP_K}",
                self.k
            )));
        }
        if let Some(t) = self.temperature.filter(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(crate::Error::InvalidInput(format!(
                "temperature must be a positive number, got {t}"
            )));
        }
        Ok(())
    }

    /// The read from the rows' dense log-probs at its position (CPU
    /// backend, tests, and a sampler's exact fallback with `k` up to the
    /// vocabulary).
    pub fn read(&self, rows: &[&[f32]]) -> Mixed {
        let logp: Vec<f32> = match self.mix {
            Mix::Row { row } => rows[row].to_vec(),
            _ => self.mix.logp(rows).into_iter().map(|x| x as f32).collect(),
        };
        let top = top_k(&logp, self.k);
        Mixed {
            at_top: rows
                .iter()
                .map(|r| top.iter().map(|&(v, _)| r[v as usize]).collect())
                .collect(),
            mass: self.temperature.map(|t| tempered_mass(&logp, t)),
            top,
        }
    }
}

impl Mix {
    /// Rows the mix reads.
    /// Rows the mix reads (`Row`: at least).
    pub fn rows(&self) -> usize {
        match self {
            Mix::Linear { weights } => weights.len(),
            Mix::Pdd { weights, .. } => 1 + weights.len(),
            Mix::Mpg { alpha } => 1 + alpha.len(),
            Mix::Row { row } => row + 1,
        }
    }

    /// A one-line error for mixes no backend can run.
    pub fn check(&self, rows: usize) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::InvalidInput(m));
        let fits = match self {
            Mix::Row { row } => *row < rows,
            _ => self.rows() == rows,
        };
        if !fits {
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
            Mix::Mpg { alpha } => {
                let max = (0..alpha.len())
                    .map(|i| lp(1 + i))
                    .fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = alpha
                    .iter()
                    .enumerate()
                    .map(|(i, a)| a * (lp(1 + i) - max).exp())
                    .sum();
                if s > 0.0 {
                    max + s.ln()
                } else {
                    lp(0) - MPG_FLOOR
                }
            }
            Mix::Row { row } => lp(*row),
        }
    }

    /// The normalised mix over the whole vocabulary.
    pub fn logp(&self, rows: &[&[f32]]) -> Vec<f64> {
        let mut c: Vec<f64> = (0..rows[0].len())
            .map(|v| self.at(|r| rows[r][v] as f64))
            .collect();
        normalise(&mut c);
        c
    }
}

/// Every read of a mixed call from each step's dense last read-out: how
/// backends without a device-side mix answer it, with as many candidates
/// as each read's nucleus needs (`cover`).
pub fn read_all(reads: &[MixRead], rows: &[LogProbs]) -> Vec<Mixed> {
    let last: Vec<&[f32]> = rows
        .iter()
        .map(|lp| lp.position(lp.positions() - 1))
        .collect();
    reads.iter().map(|r| r.read_covering(&last)).collect()
}

impl MixRead {
    /// `read`, with the best `k` doubled until they hold the read's nucleus.
    pub fn read_covering(&self, rows: &[&[f32]]) -> Mixed {
        let mut read = self.read(rows);
        let (Some(mass), Some(top_p)) = (read.mass, self.cover) else {
            return read;
        };
        let vocab = rows[0].len();
        let mut k = self.k;
        while k < vocab && kept_mass(&read.top, self.temperature) < top_p as f64 * mass {
            k = (2 * k).min(vocab);
            read = MixRead { k, ..self.clone() }.read(rows);
        }
        if k == vocab {
            // Every token: the mass is what a draw keeps, to the last bit.
            read.mass = Some(kept_mass(&read.top, self.temperature));
        }
        read
    }
}

/// The tempered mass of `top` (best first), summed as a nucleus draw sums it.
fn kept_mass(top: &[(u32, f32)], temperature: Option<f32>) -> f64 {
    let (Some(t), Some(best)) = (temperature, top.first()) else {
        return f64::INFINITY;
    };
    top.iter().map(|&(_, lp)| tempered(lp, best.1, t)).sum()
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
        let m = MixRead::top(mix.clone(), 2).read(&[&a, &b]);
        // 0.6·0.2 = 0.12, 0.3·0.2 = 0.06, 0.1·0.6 = 0.06: token 0, then 1 (tie, lower id).
        assert_eq!(m.top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![0, 1]);
        assert!((m.top[0].1 - (0.12f32 / 0.24).ln()).abs() < 1e-6);
        assert_eq!(m.at_top, vec![vec![a[0], a[1]], vec![b[0], b[1]]]);
        assert_eq!(m.mass, None);
        assert!(mix.check(3).is_err());
    }

    #[test]
    fn mpg_target_is_the_signed_expert_mix_with_the_reference_as_its_floor() {
        let ln = |p: &[f32]| p.iter().map(|p| p.ln()).collect::<Vec<f32>>();
        let (r, e1, e2) = (
            ln(&[0.5, 0.3, 0.2]),
            ln(&[0.2, 0.2, 0.6]),
            ln(&[0.6, 0.3, 0.1]),
        );
        // α = (1, −0.5): Σ α π = (−0.1, 0.05, 0.55) → token 0 has no mass.
        let mpg = Mix::Mpg {
            alpha: vec![1.0, -0.5],
        };
        let logp = mpg.logp(&[&r, &e1, &e2]);
        let p: Vec<f64> = logp.iter().map(|x| x.exp()).collect();
        assert!(p[0] < 1e-300);
        assert!((p[1] - 0.05 / 0.6).abs() < 1e-6 && (p[2] - 0.55 / 0.6).abs() < 1e-6);
        // It is rs::token_target's π_ref · max(0, Σ α_i π_i / π_ref), normalised.
        // All-negative weights: no token has mass, the target is the reference.
        let none = Mix::Mpg {
            alpha: vec![-1.0, -1.0],
        }
        .logp(&[&r, &e1, &e2]);
        for (x, y) in none.iter().zip(&r) {
            assert!((x - *y as f64).abs() < 1e-4, "{none:?} vs {r:?}");
        }
    }

    #[test]
    fn a_row_read_keeps_the_row_and_its_tempered_mass() {
        let row: Vec<f32> = [0.5f32, 0.25, 0.25].iter().map(|p| p.ln()).collect();
        let other = vec![0.0; 3];
        let m = MixRead::top(Mix::Row { row: 1 }, 2)
            .tempered(Some(0.5))
            .read(&[&other, &row]);
        assert_eq!(m.top, vec![(0, row[0]), (1, row[1])]);
        // (p / p_max)^(1/T): 1 + 0.25 + 0.25.
        assert!((m.mass.unwrap() - 1.5).abs() < 1e-6);
        assert!(Mix::Row { row: 1 }.check(2).is_ok() && Mix::Row { row: 2 }.check(2).is_err());
    }
}
