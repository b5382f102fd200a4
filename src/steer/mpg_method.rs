//! What the MPG methods (SCR, Token-RS, Seq-RS, Best-of-N; MPG paper §3)
//! share as methods: a description with the reference and α-weighted
//! experts as inputs, their views (view 0 the reference, `1..=N` the
//! experts), their settings' checks (`MpgSampler`: implementing it makes a
//! `DecodingMethod`), and the probe likelihood of the sequence-level MPG target
//! `π_ref(y) · max(0, Σ α_i r_i(y))` (unnormalised: the normaliser depends
//! on the prompt only, so it cancels between two completions).

use std::future::Future;

use super::common::Outcome;
use super::config::RunConfig;
use super::method::{
    probe_refusal, DecodeContext, DecodingMethod, Experts, Knob, MethodInfo, Probe,
    ProbeCompletions, Rewards,
};
use super::score::log_score;
use super::teacher_forced::{score_completions, sum_of_view};
use super::view_model::{ViewModel, ViewSpec};
use super::views::ViewPrompts;
use crate::backend::MixRead;
use crate::Result;

/// An MPG method: what differs between them (description, extra checks,
/// first reads, decode). The rest of `DecodingMethod` is shared: the
/// sampler settings' checks, the reference-and-experts views, and the MPG
/// target's probe likelihood when the description says it has one.
pub(crate) trait MpgSampler: Sync {
    fn describe(&self) -> &'static MethodInfo;

    /// Checks beyond the sampler settings every MPG method reads.
    fn validate_own(&self, _cfg: &RunConfig) -> Result<()> {
        Ok(())
    }

    fn first_reads(&self, _cfg: &RunConfig) -> Vec<MixRead> {
        Vec::new()
    }

    fn decode<M: ViewModel>(
        &self,
        m: &mut M,
        cx: DecodeContext<'_>,
    ) -> impl Future<Output = Result<Outcome>>;
}

impl<T: MpgSampler> DecodingMethod for T {
    fn info(&self) -> &'static MethodInfo {
        self.describe()
    }

    fn validate(&self, cfg: &RunConfig) -> Result<()> {
        self.validate_own(cfg)?;
        cfg.validate_mpg_sampler()
    }

    /// The reference plus one view per expert.
    fn view_count(&self, cfg: &RunConfig) -> usize {
        1 + cfg.experts.len()
    }

    fn views(&self, _cfg: &RunConfig, p: &ViewPrompts) -> Result<Vec<ViewSpec>> {
        p.reference_and_experts()
    }

    fn first_reads(&self, cfg: &RunConfig) -> Vec<MixRead> {
        MpgSampler::first_reads(self, cfg)
    }

    fn decode<M: ViewModel>(
        &self,
        m: &mut M,
        cx: DecodeContext<'_>,
    ) -> impl Future<Output = Result<Outcome>> {
        MpgSampler::decode(self, m, cx)
    }

    async fn probe<M: ViewModel>(
        &self,
        cfg: &RunConfig,
        m: &mut M,
        item: ProbeCompletions<'_>,
    ) -> Result<[f64; 2]> {
        match self.describe().probe {
            Probe::ClosedForm | Probe::Proxy(_) => probe_mpg_target(cfg, m, item).await,
            Probe::Unavailable(_) => Err(probe_refusal(self.describe())),
        }
    }
}

/// Why the probe scores the rejection samplers under MPG's sequence-level
/// target rather than what they sample.
pub(crate) const SEQUENCE_TARGET_PROXY: &str = "scored under MPG's sequence-level target max(0, Σ α_i π_i(y)), not the chunk- or token-level distribution it samples: those normalise over every chunk (or token) after every prefix, a sum over V^k continuations per position that cannot be computed, and with negative α no closed form replaces it";

/// The description of an MPG method.
pub(crate) const fn mpg_info(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    samples: &'static str,
    knobs: &'static [Knob],
    probe: Probe,
) -> MethodInfo {
    MethodInfo {
        name,
        label,
        help,
        samples,
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

/// `log π_ref(y) + log max(0, Σ α_i (log π_i(y) − log π_ref(y)))` of each
/// completion: the completions' own log-probs only (a few bytes a position).
async fn probe_mpg_target<M: ViewModel>(
    cfg: &RunConfig,
    m: &mut M,
    item: ProbeCompletions<'_>,
) -> Result<[f64; 2]> {
    let alpha = cfg.alpha();
    score_completions(m, &item, false, |f, _| {
        let ref_ll = sum_of_view(f, 0);
        let ratios: Vec<f64> = (1..f.token_lp.len())
            .map(|v| sum_of_view(f, v) - ref_ll)
            .collect();
        ref_ll + log_score(&alpha, &ratios)
    })
    .await
}
