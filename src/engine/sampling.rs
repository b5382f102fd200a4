//! Next-token choice from log-probs: greedy (ties to the lower id) or
//! temperature + nucleus (top-p) sampling from a seeded ChaCha8 stream, so a
//! seed gives the same tokens natively and in the browser.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sampling {
    Greedy,
    TopP {
        temperature: f32,
        top_p: f32,
        seed: u64,
    },
}

impl Sampling {
    pub fn validate(&self) -> Result<()> {
        if let Sampling::TopP {
            temperature, top_p, ..
        } = *self
        {
            if !(temperature.is_finite() && temperature > 0.0) {
                return Err(Error::InvalidInput(format!(
                    "temperature must be a positive number, got {temperature}"
                )));
            }
            if !(top_p > 0.0 && top_p <= 1.0) {
                return Err(Error::InvalidInput(format!(
                    "top-p must be in (0, 1], got {top_p}"
                )));
            }
        }
        Ok(())
    }

    pub fn rng(&self) -> ChaCha8Rng {
        match *self {
            Sampling::Greedy => ChaCha8Rng::seed_from_u64(0),
            Sampling::TopP { seed, .. } => ChaCha8Rng::seed_from_u64(seed),
        }
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// Picks the next token from `logprobs`.
pub fn sample(logprobs: &[f32], sampling: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    match *sampling {
        Sampling::Greedy => argmax(logprobs),
        Sampling::TopP {
            temperature, top_p, ..
        } => {
            let max = logprobs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut probs: Vec<(u32, f64)> = logprobs
                .iter()
                .enumerate()
                .map(|(i, &lp)| (i as u32, (((lp - max) / temperature) as f64).exp()))
                .filter(|&(_, p)| p > 0.0)
                .collect();
            probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let total: f64 = probs.iter().map(|p| p.1).sum();
            let mut kept = 0;
            let mut mass = 0.0;
            for p in &probs {
                mass += p.1;
                kept += 1;
                if mass >= top_p as f64 * total {
                    break;
                }
            }
            let mut u = rng.random::<f64>() * mass;
            for p in &probs[..kept] {
                if u < p.1 {
                    return p.0;
                }
                u -= p.1;
            }
            probs[kept - 1].0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_first_maximum() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, 1.0]), 1);
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // p = [0.6, 0.3, 0.1]: top-p 0.5 keeps only token 0, top-p 0.8 tokens 0 and 1.
        let lp: Vec<f32> = [0.6f32, 0.3, 0.1].iter().map(|p| p.ln()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let narrow = Sampling::TopP {
            temperature: 1.0,
            top_p: 0.5,
            seed: 3,
        };
        assert!((0..200).all(|_| sample(&lp, &narrow, &mut rng) == 0));
        let wide = Sampling::TopP {
            temperature: 1.0,
            top_p: 0.8,
            seed: 3,
        };
        let draws: Vec<u32> = (0..2000).map(|_| sample(&lp, &wide, &mut rng)).collect();
        assert!(draws.iter().all(|&t| t < 2));
        let ones = draws.iter().filter(|&&t| t == 1).count() as f64 / 2000.0;
        assert!((ones - 1.0 / 3.0).abs() < 0.05, "share of token 1: {ones}");
    }

    #[test]
    fn same_seed_same_draws() {
        let lp: Vec<f32> = (0..50).map(|i| -(i as f32) * 0.1).collect();
        let s = Sampling::TopP {
            temperature: 0.8,
            top_p: 0.95,
            seed: 42,
        };
        let (mut a, mut b) = (s.rng(), s.rng());
        let x: Vec<u32> = (0..20).map(|_| sample(&lp, &s, &mut a)).collect();
        let y: Vec<u32> = (0..20).map(|_| sample(&lp, &s, &mut b)).collect();
        assert_eq!(x, y);
    }

    #[test]
    fn nonsense_settings_are_rejected() {
        assert!(Sampling::TopP {
            temperature: 0.0,
            top_p: 0.9,
            seed: 0
        }
        .validate()
        .is_err());
        assert!(Sampling::TopP {
            temperature: 1.0,
            top_p: 1.5,
            seed: 0
        }
        .validate()
        .is_err());
        assert!(Sampling::TopP {
            temperature: f32::NAN,
            top_p: 0.5,
            seed: 0
        }
        .validate()
        .is_err());
    }
}
