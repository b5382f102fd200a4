//! Next-token choice from log-probs: greedy (ties to the lower id) or
//! temperature + nucleus (top-p) sampling from a seeded ChaCha8 stream, so a
//! seed gives the same tokens natively and in the browser.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dist::tempered;
pub use crate::dist::{argmax, tempered_mass};
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

/// A token drawn from a proposal, with its probability under the
/// distribution it was actually drawn from (`log q`: tempered, renormalised
/// over the nucleus; 0 for a greedy pick), which an importance ratio or a
/// rejection test against another target must divide by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    pub token: u32,
    pub log_q: f64,
}

/// Picks the next token from `logprobs`.
pub fn sample(logprobs: &[f32], sampling: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    draw(logprobs, sampling, rng).token
}

/// `sample`, with the drawn token's `log q`.
pub fn draw(logprobs: &[f32], sampling: &Sampling, rng: &mut ChaCha8Rng) -> Draw {
    if *sampling == Sampling::Greedy {
        return Draw {
            token: argmax(logprobs),
            log_q: 0.0,
        };
    }
    let top: Vec<(u32, f32)> = (0..logprobs.len() as u32)
        .zip(logprobs.iter().copied())
        .collect();
    let mass = match *sampling {
        Sampling::TopP { temperature, .. } => tempered_mass(logprobs, temperature),
        Sampling::Greedy => unreachable!("greedy returned above"),
    };
    nucleus(&top, mass, sampling, rng, true).expect("the whole vocabulary covers every nucleus")
}

/// `sample` from some of a distribution's tokens: `top` (token, log-prob),
/// which must hold its most likely tokens (any order), and `mass`, the
/// [`tempered_mass`] of the whole distribution. The same draw as `sample`
/// over the whole vocabulary when the nucleus lies inside `top`; `None`
/// (and no draw from `rng`) when it reaches past it, so that the caller can
/// fall back to the whole vocabulary with the stream untouched.
pub fn sample_top(
    top: &[(u32, f32)],
    mass: f64,
    sampling: &Sampling,
    rng: &mut ChaCha8Rng,
) -> Option<u32> {
    draw_top(top, mass, sampling, rng).map(|d| d.token)
}

/// `sample_top`, with the drawn token's `log q` (the same as `draw`'s).
pub fn draw_top(
    top: &[(u32, f32)],
    mass: f64,
    sampling: &Sampling,
    rng: &mut ChaCha8Rng,
) -> Option<Draw> {
    nucleus(top, mass, sampling, rng, false)
}

/// The draw of `sample_top`; with `whole` (`top` is the whole vocabulary)
/// the nucleus may end with the last token although rounding left the kept
/// mass a hair below `top_p · mass` (top-p 1: the sorted sum against the
/// id-order one).
fn nucleus(
    top: &[(u32, f32)],
    mass: f64,
    sampling: &Sampling,
    rng: &mut ChaCha8Rng,
    whole: bool,
) -> Option<Draw> {
    let best = top.iter().copied().reduce(|a, b| {
        if b.1 > a.1 || (b.1 == a.1 && b.0 < a.0) {
            b
        } else {
            a
        }
    })?;
    let Sampling::TopP {
        temperature, top_p, ..
    } = *sampling
    else {
        return Some(Draw {
            token: best.0,
            log_q: 0.0,
        });
    };
    let mut probs: Vec<(u32, f64)> = top
        .iter()
        .map(|&(v, lp)| (v, tempered(lp, best.1, temperature)))
        .filter(|&(_, p)| p > 0.0)
        .collect();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0;
    let mut kept_mass = 0.0;
    for p in &probs {
        kept_mass += p.1;
        kept += 1;
        if kept_mass >= top_p as f64 * mass {
            break;
        }
    }
    if kept_mass < top_p as f64 * mass && !whole {
        return None;
    }
    let drawn = |p: &(u32, f64)| Draw {
        token: p.0,
        log_q: (p.1 / kept_mass).ln(),
    };
    let mut u = rng.random::<f64>() * kept_mass;
    for p in &probs[..kept] {
        if u < p.1 {
            return Some(drawn(p));
        }
        u -= p.1;
    }
    Some(drawn(&probs[kept - 1]))
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
    fn log_q_is_the_tempered_nucleus_probability_of_the_drawn_token() {
        // p = [0.5, 0.3, 0.15, 0.05]; T = 0.5 squares them: [.25, .09, .0225, .0025] / .365;
        // top-p 0.9 keeps tokens 0 and 1 (0.685 + 0.247 >= 0.9), renormalised.
        let lp: Vec<f32> = [0.5f32, 0.3, 0.15, 0.05].iter().map(|p| p.ln()).collect();
        let s = Sampling::TopP {
            temperature: 0.5,
            top_p: 0.9,
            seed: 1,
        };
        let mut rng = s.rng();
        let mut seen = [false; 4];
        for _ in 0..200 {
            let d = draw(&lp, &s, &mut rng);
            let want = [0.25f64 / 0.34, 0.09 / 0.34][d.token as usize];
            assert!((d.log_q - want.ln()).abs() < 1e-5, "{d:?}");
            seen[d.token as usize] = true;
        }
        assert_eq!(seen, [true, true, false, false]);
        let mut sparse_rng = s.rng();
        let mut dense_rng = s.rng();
        let top = crate::backend::top_k(&lp, 3);
        let mass = tempered_mass(&lp, 0.5);
        for _ in 0..20 {
            let a = draw_top(&top, mass, &s, &mut sparse_rng).unwrap();
            let b = draw(&lp, &s, &mut dense_rng);
            assert_eq!(a.token, b.token);
            assert!((a.log_q - b.log_q).abs() < 1e-12);
        }
        let greedy = draw(&lp, &Sampling::Greedy, &mut rng);
        assert_eq!((greedy.token, greedy.log_q), (0, 0.0));
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
    fn a_covering_top_draws_like_the_whole_vocabulary_and_a_short_one_draws_nothing() {
        // 200 tokens: 10 likely ones, then a long flat tail.
        let lp: Vec<f32> = (0..200)
            .map(|i| {
                if i % 20 == 3 {
                    -1.0 - i as f32 * 0.01
                } else {
                    -9.0
                }
            })
            .collect();
        let top = crate::backend::top_k(&lp, 64);
        for (top_p, covered) in [(0.5, true), (0.9, true), (1.0, false)] {
            let s = Sampling::TopP {
                temperature: 0.7,
                top_p,
                seed: 5,
            };
            let mass = tempered_mass(&lp, 0.7);
            let (mut a, mut b) = (s.rng(), s.rng());
            for _ in 0..50 {
                let sparse = sample_top(&top, mass, &s, &mut a);
                assert_eq!(sparse.is_some(), covered, "top-p {top_p}");
                if let Some(t) = sparse {
                    assert_eq!(t, sample(&lp, &s, &mut b));
                }
            }
            // An uncovered nucleus leaves the stream where it was.
            if !covered {
                assert_eq!(a.random::<u64>(), s.rng().random::<u64>());
            }
        }
        assert_eq!(
            sample_top(&top, 0.0, &Sampling::Greedy, &mut Sampling::Greedy.rng()),
            Some(3)
        );
    }

    #[test]
    fn whole_rows_answer_with_every_candidate_a_nucleus_needs() {
        use crate::backend::{Mix, MixRead};
        let flat: Vec<f32> = (0..200).map(|i| -5.3 - 1e-3 * i as f32).collect();
        for top_p in [0.5f32, 0.9, 1.0] {
            let s = Sampling::TopP {
                temperature: 0.8,
                top_p,
                seed: 2,
            };
            let read = MixRead::top(Mix::Row { row: 0 }, 64).nucleus(0.8, top_p);
            assert_eq!(read.read(&[&flat]).top.len(), 64, "a GPU's k");
            let m = read.read_covering(&[&flat]);
            assert!(m.top.len() >= (top_p * 200.0) as usize - 1, "top-p {top_p}");
            let (mut a, mut b) = (s.rng(), s.rng());
            for _ in 0..20 {
                let t = sample_top(&m.top, m.mass.unwrap(), &s, &mut a);
                assert_eq!(t, Some(sample(&flat, &s, &mut b)), "top-p {top_p}");
            }
        }
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
