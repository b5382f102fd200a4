//! What MPG's rejection samplers (MPG paper §3.2–3.3; ALGORITHMS.md "MPG
//! with SCR" and "Baselines") need from the views at one position: the
//! reference's most likely tokens with every view's log-prob at them (the
//! candidates a proposal is drawn from and the experts score), and the
//! token-level MPG target's best tokens (the page's alternatives). Read in
//! the batched call that appends the position's token, as a few sparse
//! words (issue 6: a GPU backend reduces the vocabulary on the device); when
//! a nucleus reaches past the candidates, every view is read densely again
//! (`ViewModel::reread`), so a seed gives the same tokens either way.

use rand_chacha::ChaCha8Rng;

use super::common::{alternatives_mixed, ALTERNATIVES};
use super::config::Target;
use super::events::Alternative;
use super::view_model::ViewModel;
use crate::backend::{Mix, MixRead, Mixed, MAX_TOP_K};
use crate::engine::sampling::{draw, draw_top, sample_top, Draw, Sampling};
use crate::Result;

/// A token the reference proposed, with its log-prob under the reference
/// and under the proposal it was drawn from (tempered, truncated).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Proposed {
    pub token: u32,
    pub ref_lp: f64,
    pub log_q: f64,
}

impl Proposed {
    fn new(d: Draw, ref_lp: f64) -> Self {
        Self {
            token: d.token,
            ref_lp,
            log_q: d.log_q,
        }
    }

    /// What the acceptance test adds to `log R` to aim at `target`:
    /// `log π_ref − log q` for the MPG target, 0 for the tempered one.
    pub fn correction(&self, target: Target) -> f64 {
        match target {
            Target::Tempered => 0.0,
            Target::Mpg => self.ref_lp - self.log_q,
        }
    }
}

/// Candidates read per position: the most a sparse read-out returns.
pub(crate) const CANDIDATES: usize = MAX_TOP_K;

/// The views at one position (view 0 the reference, `1..=N` the experts).
pub enum MpgAt {
    /// Read sparsely: `cand` is the reference's best tokens (a `Mix::Row`
    /// read with the proposal's tempered mass), `target` the MPG target's.
    Sparse { cand: Mixed, target: Mixed },
    /// Every view's whole next-token distribution.
    Dense { rows: Vec<Vec<f32>>, target: Mixed },
}

fn target_read(alpha: &[f64]) -> MixRead {
    MixRead::top(
        Mix::Mpg {
            alpha: alpha.to_vec(),
        },
        ALTERNATIVES,
    )
}

/// The reference's candidates at the last new position of a call that
/// steps view 0 alone (a proposal step of SCR or Seq-RS).
pub(crate) fn reference_read(proposal: &Sampling) -> MixRead {
    let read = MixRead::top(Mix::Row { row: 0 }, CANDIDATES);
    match *proposal {
        Sampling::Greedy => read,
        Sampling::TopP {
            temperature, top_p, ..
        } => read.nucleus(temperature, top_p),
    }
}

impl MpgAt {
    /// The two reads of a call that steps every view, at its last position.
    pub fn reads(alpha: &[f64], proposal: &Sampling) -> [MixRead; 2] {
        [reference_read(proposal), target_read(alpha)]
    }

    /// The reads asked for with the prompt prefill (see `start`).
    pub fn first_reads(alpha: &[f64], proposal: &Sampling) -> Vec<MixRead> {
        Self::reads(alpha, proposal).to_vec()
    }

    /// Every view takes `token` in one batched call; the views after it.
    pub async fn after(
        m: &mut impl ViewModel,
        alpha: &[f64],
        proposal: &Sampling,
        token: u32,
    ) -> Result<Self> {
        let t = [token];
        let items: Vec<(usize, &[u32])> = (0..=alpha.len()).map(|v| (v, &t[..])).collect();
        let mut read = m
            .append_mixed(&items, &Self::reads(alpha, proposal))
            .await?;
        let target = read.pop().expect("two reads");
        Ok(Self::from_reads(read.pop().expect("two reads"), target))
    }

    /// Every view after the prompt: the answer to `first_reads`, or the
    /// views' known `next`.
    pub fn start(m: &mut impl ViewModel, alpha: &[f64]) -> Self {
        match m.take_first() {
            Some(mut r) if r.len() == 2 => {
                let target = r.pop().expect("two reads");
                Self::from_reads(r.pop().expect("two reads"), target)
            }
            _ => Self::from_next(m, alpha),
        }
    }

    /// The view model's answer to `reads`.
    pub fn from_reads(cand: Mixed, target: Mixed) -> Self {
        MpgAt::Sparse { cand, target }
    }

    /// From every view's known `next` (after the prompt, or a `reread`).
    pub fn from_next(m: &impl ViewModel, alpha: &[f64]) -> Self {
        let rows: Vec<Vec<f32>> = (0..=alpha.len()).map(|v| m.next(v).to_vec()).collect();
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let target = target_read(alpha).read(&refs);
        MpgAt::Dense { rows, target }
    }

    /// Whether a draw with `proposal` stays inside the candidates.
    pub fn covers(&self, proposal: &Sampling, rng: &ChaCha8Rng) -> bool {
        match self {
            MpgAt::Dense { .. } => true,
            MpgAt::Sparse { cand, .. } => sample_top(
                &cand.top,
                cand.mass.unwrap_or(0.0),
                proposal,
                &mut rng.clone(),
            )
            .is_some(),
        }
    }

    /// A draw from the reference (the caller made sure it `covers`).
    pub(crate) fn propose(&self, proposal: &Sampling, rng: &mut ChaCha8Rng) -> Proposed {
        let d = match self {
            MpgAt::Dense { rows, .. } => draw(&rows[0], proposal, rng),
            MpgAt::Sparse { cand, .. } => {
                draw_top(&cand.top, cand.mass.unwrap_or(0.0), proposal, rng)
                    .expect("a covering read")
            }
        };
        Proposed::new(d, self.log_probs(d.token)[0] as f64)
    }

    /// Every view's log-prob of `v`: a token drawn after `covering`, so a
    /// candidate when the views were read sparsely.
    pub fn log_probs(&self, v: u32) -> Vec<f32> {
        match self {
            MpgAt::Dense { rows, .. } => rows.iter().map(|r| r[v as usize]).collect(),
            MpgAt::Sparse { cand, .. } => {
                let j = cand
                    .top
                    .iter()
                    .position(|t| t.0 == v)
                    .expect("a token drawn from the candidates");
                cand.at_top.iter().map(|r| r[j]).collect()
            }
        }
    }

    /// Per-expert `log π_i(v) − log π_ref(v)`.
    pub fn log_ratios(&self, v: u32) -> Vec<f64> {
        let lp = self.log_probs(v);
        lp[1..].iter().map(|&e| e as f64 - lp[0] as f64).collect()
    }

    /// The target's best tokens with the reference's probability beside them.
    pub fn alternatives(&self) -> Vec<Alternative> {
        match self {
            MpgAt::Dense { target, .. } | MpgAt::Sparse { target, .. } => {
                alternatives_mixed(target, 0)
            }
        }
    }
}

/// `at`, or every view read densely again when a draw with `proposal`
/// would reach past its candidates (counted in `rereads`).
pub(crate) async fn covering<M: ViewModel>(
    m: &mut M,
    at: MpgAt,
    alpha: &[f64],
    proposal: &Sampling,
    rng: &ChaCha8Rng,
    rereads: &mut u64,
) -> Result<MpgAt> {
    if at.covers(proposal, rng) {
        return Ok(at);
    }
    let views: Vec<usize> = (0..=alpha.len()).collect();
    m.reread(&views).await?;
    *rereads += 1;
    Ok(MpgAt::from_next(m, alpha))
}

/// A draw from the reference alone, from its candidates `top` (read after
/// its last token) or, when the nucleus reaches past them (or there are
/// none), from its dense distribution.
pub(crate) async fn draw_reference<M: ViewModel>(
    m: &mut M,
    top: Option<&Mixed>,
    proposal: &Sampling,
    rng: &mut ChaCha8Rng,
    rereads: &mut u64,
) -> Result<Proposed> {
    if let Some(top) = top {
        if let Some(d) = draw_top(&top.top, top.mass.unwrap_or(0.0), proposal, rng) {
            let lp = top.top.iter().find(|t| t.0 == d.token).expect("drawn").1;
            return Ok(Proposed::new(d, lp as f64));
        }
        m.reread(&[0]).await?;
        *rereads += 1;
    }
    let next = m.next(0);
    let d = draw(next, proposal, rng);
    Ok(Proposed::new(d, next[d.token as usize] as f64))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::steer::tabular::{flat_after_one, TabularViews};

    #[test]
    fn sparse_reads_agree_with_the_dense_views() {
        let mut m = TabularViews::new(100, 3, Box::new(flat_after_one));
        let alpha = [1.0, -0.5];
        let proposal = Sampling::TopP {
            temperature: 0.7,
            top_p: 0.9,
            seed: 1,
        };
        let rng = ChaCha8Rng::seed_from_u64(1);
        for (token, covered) in [(0u32, true), (1, false)] {
            let at = pollster::block_on(MpgAt::after(&mut m, &alpha, &proposal, token)).unwrap();
            assert_eq!(at.covers(&proposal, &rng), covered, "after token {token}");
            pollster::block_on(m.reread(&[0, 1, 2])).unwrap();
            let dense = MpgAt::from_next(&m, &alpha);
            if let MpgAt::Sparse { cand, .. } = &at {
                for &(c, _) in &cand.top {
                    assert_eq!(at.log_probs(c), dense.log_probs(c));
                    assert_eq!(at.log_ratios(c), dense.log_ratios(c));
                }
            } else {
                panic!("a batched call reads sparsely");
            }
            let ids = |a: &MpgAt| a.alternatives().iter().map(|x| x.id).collect::<Vec<_>>();
            assert_eq!(ids(&at), ids(&dense));
            if covered {
                let (mut a, mut b) = (rng.clone(), rng.clone());
                for _ in 0..20 {
                    assert_eq!(
                        at.propose(&proposal, &mut a).token,
                        dense.propose(&proposal, &mut b).token
                    );
                }
            }
        }
    }
}
