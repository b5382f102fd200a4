//! What the MPG methods (SCR, Token-RS, Seq-RS, Best-of-N; MPG paper §3)
//! share as methods: a description with the reference and α-weighted
//! experts as inputs, their views (view 0 the reference, `1..=N` the
//! experts), and the probe likelihood of the sequence-level MPG target
//! `π_ref(y) · max(0, Σ α_i r_i(y))` (unnormalised: the normaliser depends
//! on the prompt only, so it cancels between two completions).

use super::config::RunConfig;
use super::method::{Experts, Knob, MethodInfo, Probe, ProbeCompletions, Rewards};
use super::score::log_score;
use super::teacher_forced::{sum_of_view, teacher_forced};
use super::view_model::ViewModel;
use crate::Result;

/// The description of an MPG method.
pub(crate) const fn mpg_info(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    knobs: &'static [Knob],
    probe: Probe,
) -> MethodInfo {
    MethodInfo {
        name,
        label,
        help,
        persona: false,
        experts: Experts::Any,
        reference: true,
        random_proposals: true,
        knobs,
        importance: false,
        rewards: Rewards::ExpertLogRatio,
        plain_chat: false,
        probe,
    }
}

/// The reference plus one view per expert.
pub(crate) fn mpg_view_count(cfg: &RunConfig) -> usize {
    1 + cfg.experts.len()
}

/// `log π_ref(y) + log max(0, Σ α_i (log π_i(y) − log π_ref(y)))` of each
/// completion: the completions' own log-probs only (a few bytes a position).
pub(crate) async fn probe_mpg_target<M: ViewModel>(
    cfg: &RunConfig,
    m: &mut M,
    item: ProbeCompletions<'_>,
) -> Result<[f64; 2]> {
    let alpha = cfg.alpha();
    let mut out = [0.0; 2];
    for (c, ids) in item.completions.iter().enumerate() {
        let f = teacher_forced(m, ids, false).await?;
        let ref_ll = sum_of_view(&f, 0);
        let ratios: Vec<f64> = (1..m.views())
            .map(|v| sum_of_view(&f, v) - ref_ll)
            .collect();
        out[c] = ref_ll + log_score(&alpha, &ratios);
    }
    Ok(out)
}
