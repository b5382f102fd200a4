//! SCR's online rejection bound `log M` (MPG paper §3.3 "sliding window";
//! ALGORITHMS.md step 6): warm-up at `log M0` while the buffer holds at most
//! W scores, then `max(last W) + log γ`, frozen while the window's variance
//! is below τ and unfrozen when it rises again. A fixed bound is available
//! for exact tests and the exact preset ([`BoundConfig::conservative`]).
//! Every acceptance test goes through [`Bound::accepts`], which counts the
//! tests whose score exceeded the bound in force (bound violations: the
//! candidate was accepted surely, more often than the target asks).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundConfig {
    pub window: usize,
    pub gamma: f64,
    pub tau: f64,
    /// `log M0`, used during warm-up; `None`: derived from α (see `Default`).
    pub log_m0: Option<f64>,
    /// A known true bound: never estimated (exact rejection sampling).
    pub fixed: Option<f64>,
}

impl Default for BoundConfig {
    /// W = 20, γ = 1.2, τ = 0.01 (the MPG paper's settings). The paper only
    /// calls `log M0` "conservative"; by default we derive it from α:
    /// `log M0 = log Σ_{α_i > 0} α_i + log γ`, the score of a chunk that every
    /// favoured expert finds exactly as likely as the reference, with the
    /// safety margin. A chunk all experts agree with (`L_i = 0`) scores
    /// `log Σ α_i`, so it is accepted with probability `Σα / (γ Σα⁺)`; chunks
    /// the favoured experts prefer are accepted surely. A fixed constant (we
    /// tried 2) rejected ~90% of chunks during warm-up with α = (1, −0.5),
    /// because neutral chunks then score log 0.5.
    fn default() -> Self {
        Self {
            window: 20,
            gamma: 1.2,
            tau: 0.01,
            log_m0: None,
            fixed: None,
        }
    }
}

/// The exact preset's fixed bound when none is given: each of a chunk's k
/// tokens may be up to this many times likelier under the favoured experts
/// than under the reference. Measured (docs/ALGORITHMS.md): 318 chunks of
/// k = 4 at T = 1 with prompt experts E = 1, T = −0.5 scored at most 1.91
/// nats; this bound is 2.42 there.
pub const CONSERVATIVE_TOKEN_RATIO: f64 = 1.75;

impl BoundConfig {
    /// `log Σ_{α_i > 0} α_i + k · log CONSERVATIVE_TOKEN_RATIO + log γ`.
    pub fn conservative(alpha: &[f64], k: usize) -> f64 {
        let positive: f64 = alpha.iter().filter(|a| **a > 0.0).sum();
        positive.max(1e-6).ln()
            + k as f64 * CONSERVATIVE_TOKEN_RATIO.ln()
            + BoundConfig::default().gamma.ln()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Bound {
    config: BoundConfig,
    buffer: Vec<f64>,
    log_m: f64,
    frozen: bool,
    /// Acceptance tests made, and those whose score exceeded `log_m`.
    pub tests: u64,
    pub violations: u64,
}

impl Bound {
    /// The bound for expert weights `alpha` (which set the default `log M0`).
    pub(crate) fn new(config: BoundConfig, alpha: &[f64]) -> Self {
        let log_m0 = config.log_m0.unwrap_or_else(|| {
            let positive: f64 = alpha.iter().filter(|a| **a > 0.0).sum();
            positive.max(1e-6).ln() + config.gamma.ln()
        });
        let config = BoundConfig {
            log_m0: Some(log_m0),
            ..config
        };
        Self {
            log_m: config.fixed.unwrap_or(log_m0),
            config,
            buffer: Vec::new(),
            frozen: false,
            tests: 0,
            violations: 0,
        }
    }

    /// The rejection test of a candidate scoring `s` with the uniform
    /// `log_u`: accept when `log u < s − log M`. Counts the test, and a
    /// violation when `s > log M`.
    pub(crate) fn accepts(&mut self, s: f64, log_u: f64) -> bool {
        self.tests += 1;
        if s > self.log_m {
            self.violations += 1;
        }
        log_u < s - self.log_m
    }

    fn log_m0(&self) -> f64 {
        self.config.log_m0.expect("resolved in new")
    }

    pub(crate) fn log_m(&self) -> f64 {
        self.log_m
    }

    #[cfg(test)]
    pub(crate) fn frozen(&self) -> bool {
        self.frozen
    }

    /// Records the S of an accepted candidate and updates the bound.
    pub(crate) fn push(&mut self, s: f64) {
        if !s.is_finite() {
            return;
        }
        self.buffer.push(s);
        if self.config.fixed.is_some() {
            return;
        }
        let w = self.config.window;
        if self.buffer.len() <= w {
            self.log_m = self.log_m0();
            return;
        }
        let last = &self.buffer[self.buffer.len() - w..];
        let mean = last.iter().sum::<f64>() / w as f64;
        let var = last.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / w as f64;
        if self.frozen {
            if var >= self.config.tau {
                self.frozen = false;
            }
        } else {
            self.log_m =
                last.iter().copied().fold(f64::NEG_INFINITY, f64::max) + self.config.gamma.ln();
            if var < self.config.tau {
                self.frozen = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BoundConfig {
        BoundConfig {
            window: 3,
            gamma: 1.5,
            tau: 0.01,
            log_m0: Some(5.0),
            fixed: None,
        }
    }

    #[test]
    fn warm_up_keeps_m0_until_the_window_is_full() {
        let mut b = Bound::new(cfg(), &[1.0]);
        for s in [0.1, 0.9, 0.3] {
            b.push(s);
            assert_eq!(b.log_m(), 5.0);
        }
        b.push(0.2); // buffer 4 > W: estimation from the last 3 (0.9, 0.3, 0.2)
        assert!((b.log_m() - (0.9 + 1.5f64.ln())).abs() < 1e-12);
        assert!(!b.frozen());
    }

    #[test]
    fn freezes_on_low_variance_and_unfreezes_on_high() {
        let mut b = Bound::new(cfg(), &[1.0]);
        for s in [1.0, 1.0, 1.0, 1.0] {
            b.push(s);
        }
        // The estimate is taken, then frozen because Var(1, 1, 1) = 0 < τ.
        assert!(b.frozen());
        let frozen_at = b.log_m();
        assert!((frozen_at - (1.0 + 1.5f64.ln())).abs() < 1e-12);
        b.push(1.0);
        assert_eq!(b.log_m(), frozen_at, "frozen: no update");
        b.push(3.0); // window (1, 1, 3): variance 0.89 >= τ: unfreeze, no update this time
        assert!(!b.frozen());
        assert_eq!(b.log_m(), frozen_at);
        b.push(2.0); // estimation again: max(1, 3, 2) + log γ
        assert!((b.log_m() - (3.0 + 1.5f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn default_m0_comes_from_the_positive_weights() {
        let b = Bound::new(BoundConfig::default(), &[1.0, -0.5, 0.5]);
        assert!((b.log_m() - (1.5f64.ln() + 1.2f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn tests_above_the_bound_are_counted_as_violations() {
        let mut b = Bound::new(cfg(), &[1.0]);
        assert!(b.accepts(5.5, -0.1), "above the bound: always accepted");
        assert!(!b.accepts(4.0, -0.5), "log u -0.5 >= 4 - 5");
        assert!(b.accepts(4.0, -1.5));
        assert_eq!((b.tests, b.violations), (3, 1));
        let c = BoundConfig::conservative(&[1.0, -0.5, 0.5], 4);
        assert!((c - (1.5f64.ln() + 4.0 * 1.75f64.ln() + 1.2f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn fixed_bound_never_moves_and_minus_infinity_is_ignored() {
        let mut b = Bound::new(
            BoundConfig {
                fixed: Some(0.7),
                ..cfg()
            },
            &[1.0],
        );
        for s in [9.0, 9.0, 9.0, 9.0, f64::NEG_INFINITY] {
            b.push(s);
        }
        assert_eq!(b.log_m(), 0.7);
    }
}
