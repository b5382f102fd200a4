//! Single-view decoding: Base (the plain model), PP (persona prompting:
//! the persona's attributes as the system prompt) and DPO Soups (one row
//! whose LoRA adapters are merged with weights α: `W + Σ α_i B_i A_i`, the
//! MPG paper's baseline). One row, one forward per token; each answer is
//! drawn from that row's distribution (greedy or tempered top-p).

use rand_chacha::ChaCha8Rng;

use super::common::{decision_read, Limits, Outcome};
use super::config::RunConfig;
use super::events::Event;
use super::method::{
    DecodeContext, DecodingMethod, Experts, MethodInfo, Probe, ProbeCompletions, Rewards,
};
use super::step::{decode_steps, StepRule};
use super::teacher_forced::{score_completions, sum_of_view};
use super::view_model::{ViewModel, ViewSpec};
use super::views::ViewPrompts;
use crate::backend::{Mix, MixRead};
use crate::engine::sampling::Sampling;
use crate::Result;

/// The read that decides the first token, asked for with the prefill.
pub(crate) fn first_reads(sampling: &Sampling) -> Vec<MixRead> {
    vec![decision_read(Mix::Row { row: 0 }, sampling)]
}

/// One row's own distribution.
pub(crate) struct OwnRow;

impl StepRule for OwnRow {
    fn views(&self) -> &[usize] {
        &[0]
    }

    fn mix(&self) -> Mix {
        Mix::Row { row: 0 }
    }

    fn dense(&self, rows: &[&[f32]]) -> Vec<f64> {
        rows[0].iter().map(|&v| v as f64).collect()
    }

    fn emitted(&mut self, _at: &[f64]) -> (Option<f64>, Vec<f64>) {
        (None, vec![])
    }
}

pub(crate) async fn decode<M: ViewModel>(
    m: &mut M,
    sampling: &Sampling,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let first = m.take_first().and_then(|mut r| r.pop());
    decode_steps(m, OwnRow, first, sampling, limits, rng, sink).await
}

/// The description every single-view method shares but its name.
const fn single(
    name: &'static str,
    label: &'static str,
    help: &'static str,
    samples: &'static str,
    persona: bool,
    experts: Experts,
    plain_chat: bool,
) -> MethodInfo {
    MethodInfo {
        name,
        label,
        help,
        samples,
        persona,
        experts,
        reference: false,
        random_proposals: false,
        knobs: &[],
        importance: false,
        rewards: Rewards::None,
        plain_chat,
        probe: Probe::ClosedForm,
    }
}

/// The one row's own decisions, and its probe likelihood: the sum of the
/// row's log-probs of the completion.
macro_rules! single_view_method {
    ($ty:ident, $info:expr, |$cfg:ident, $p:ident| $view:expr) => {
        impl DecodingMethod for $ty {
            fn info(&self) -> &'static MethodInfo {
                static INFO: MethodInfo = $info;
                &INFO
            }

            fn view_count(&self, _cfg: &RunConfig) -> usize {
                1
            }

            fn views(&self, $cfg: &RunConfig, $p: &ViewPrompts) -> Result<Vec<ViewSpec>> {
                Ok(vec![$view?])
            }

            fn first_reads(&self, cfg: &RunConfig) -> Vec<MixRead> {
                first_reads(&cfg.sampling)
            }

            async fn decode<M: ViewModel>(
                &self,
                m: &mut M,
                cx: DecodeContext<'_>,
            ) -> Result<Outcome> {
                decode(m, &cx.cfg.sampling, cx.limits, cx.rng, cx.sink).await
            }

            async fn probe<M: ViewModel>(
                &self,
                _cfg: &RunConfig,
                m: &mut M,
                item: ProbeCompletions<'_>,
            ) -> Result<[f64; 2]> {
                score_completions(m, &item, false, |f, _| sum_of_view(f, 0)).await
            }
        }
    };
}

/// Base: the plain model.
pub(crate) struct Base;
single_view_method!(
    Base,
    single(
        "base",
        "Base",
        "The plain chat: the model as it is, multi-turn, with your system prompt.",
        "each token from π(v | plain prompt), greedy or at temperature T within top-p",
        false,
        Experts::None,
        true,
    ),
    |_cfg, p| p.plain()
);

/// PP: the persona's attributes as the system prompt.
pub(crate) struct Pp;
single_view_method!(
    Pp,
    single(
        "pp",
        "PP",
        "Persona prompting: the persona's attributes become the system prompt.",
        "each token from π(v | persona prompt), greedy or at temperature T within top-p",
        true,
        Experts::None,
        false,
    ),
    |_cfg, p| p.persona()
);

/// DPO Soups: the adapters merged with weights α into one row.
pub(crate) struct Soups;
single_view_method!(
    Soups,
    single(
        "soups",
        "Soups",
        "DPO Soups: one model whose LoRA adapters are merged with weights α — load an adapter under “LoRA adapters” first.",
        "each token from one model whose LoRA delta is Σ α_i B_i A_i (α as given: not an average unless Σ α = 1)",
        false,
        Experts::AdaptersOnly,
        false,
    ),
    |_cfg, p| p.chat(None, p.adapter_mix())
);
