//! MOD (multi-objective decoding, MPG paper's baseline; ALGORITHMS.md
//! "Baselines"): `p(v) ∝ exp(Σ_i α_i log π_di(v))`, one row per expert per
//! step, all experts in one batched call.

use rand_chacha::ChaCha8Rng;

use super::common::{decision_read, Limits, Outcome};
use super::config::RunConfig;
use super::events::Event;
use super::method::{
    DecodeContext, DecodingMethod, Experts, MethodInfo, Probe, ProbeCompletions, Rewards,
};
use super::step::{decode_steps, StepRule};
use super::teacher_forced::score_completions;
use super::view_model::{ViewModel, ViewSpec};
use super::views::ViewPrompts;
use crate::backend::{Mix, MixRead};
use crate::engine::sampling::Sampling;
use crate::Result;

/// The MOD distribution over the vocabulary (normalised log-probs).
pub(crate) fn mod_logp(expert_lps: &[&[f32]], alpha: &[f64]) -> Vec<f64> {
    Mix::Linear {
        weights: alpha.to_vec(),
    }
    .logp(expert_lps)
}

/// The read that decides the first token, asked for with the prefill.
pub(crate) fn first_reads(alpha: &[f64], sampling: &Sampling) -> Vec<MixRead> {
    let mix = Mix::Linear {
        weights: alpha.to_vec(),
    };
    vec![decision_read(mix, sampling)]
}

/// Views `0..alpha.len()` are the experts; the base probability shown in the
/// UI is the first expert's.
/// The experts' log-probs mixed with weights α; each token's rewards are
/// the experts' log-probs of it.
struct Linear {
    views: Vec<usize>,
    alpha: Vec<f64>,
}

impl StepRule for Linear {
    fn views(&self) -> &[usize] {
        &self.views
    }

    fn mix(&self) -> Mix {
        Mix::Linear {
            weights: self.alpha.clone(),
        }
    }

    fn dense(&self, rows: &[&[f32]]) -> Vec<f64> {
        mod_logp(rows, &self.alpha)
    }

    fn emitted(&mut self, at: &[f64]) -> (Option<f64>, Vec<f64>) {
        (None, at.to_vec())
    }
}

pub(crate) async fn decode<M: ViewModel>(
    m: &mut M,
    alpha: &[f64],
    sampling: &Sampling,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let rule = Linear {
        views: (0..alpha.len()).collect(),
        alpha: alpha.to_vec(),
    };
    let first = m.take_first().and_then(|mut r| r.pop());
    decode_steps(m, rule, first, sampling, limits, rng, sink).await
}

/// MOD: one view per expert, mixed at every step.
pub(crate) struct Mod;

impl DecodingMethod for Mod {
    fn info(&self) -> &'static MethodInfo {
        &MethodInfo {
            name: "mod",
            label: "MOD",
            help: "Multi-objective decoding: mixes the experts' next-token log-probs with weights α at every step.",
            samples: "p(v) ∝ exp(Σ α_i log π_i(v)) at every token (α as given: a weighted geometric average only when Σ α = 1)",
            persona: false,
            experts: Experts::Any,
            reference: false,
            random_proposals: false,
            knobs: &[],
            importance: false,
            rewards: Rewards::ExpertLogProb,
            plain_chat: false,
            probe: Probe::ClosedForm,
        }
    }

    fn view_count(&self, cfg: &RunConfig) -> usize {
        cfg.experts.len()
    }

    fn views(&self, _cfg: &RunConfig, p: &ViewPrompts) -> Result<Vec<ViewSpec>> {
        p.experts()
    }

    fn first_reads(&self, cfg: &RunConfig) -> Vec<MixRead> {
        first_reads(&cfg.alpha(), &cfg.sampling)
    }

    async fn decode<M: ViewModel>(&self, m: &mut M, cx: DecodeContext<'_>) -> Result<Outcome> {
        decode(m, &cx.alpha, &cx.cfg.sampling, cx.limits, cx.rng, cx.sink).await
    }

    /// Σ_t log p_MOD(y_t): MOD renormalises over the vocabulary, so every
    /// view's whole distribution is read before each completion token.
    async fn probe<M: ViewModel>(
        &self,
        cfg: &RunConfig,
        m: &mut M,
        item: ProbeCompletions<'_>,
    ) -> Result<[f64; 2]> {
        let alpha = cfg.alpha();
        score_completions(m, &item, true, |f, ids| {
            (0..ids.len())
                .map(|t| {
                    let rows: Vec<&[f32]> = f.dists.iter().map(|d| d[t].as_slice()).collect();
                    mod_logp(&rows, &alpha)[ids[t] as usize]
                })
                .sum()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_distribution_is_the_normalised_weighted_geometric_mix() {
        let a: Vec<f32> = [0.6f32, 0.3, 0.1].iter().map(|p| p.ln()).collect();
        let b: Vec<f32> = [0.2f32, 0.2, 0.6].iter().map(|p| p.ln()).collect();
        let logp = mod_logp(&[&a, &b], &[1.5, -0.5]);
        let raw: Vec<f64> = [(0.6f64, 0.2f64), (0.3, 0.2), (0.1, 0.6)]
            .iter()
            .map(|(x, y)| x.powf(1.5) * y.powf(-0.5))
            .collect();
        let z: f64 = raw.iter().sum();
        for v in 0..3 {
            assert!((logp[v].exp() - raw[v] / z).abs() < 1e-6);
        }
    }
}
