//! Every setting of a run, as data: the method, persona, experts with their
//! weights α, the conversation, the limits and sampling, and each method's
//! own settings (PDD's β and K, SCR's chunk size, bound and proposal). The
//! page, the CLI and traces carry it as JSON; `validate.rs` checks it.

use serde::{Deserialize, Serialize};

use super::bound::BoundConfig;
use super::methods::Method;
use super::persona::Persona;
use crate::backend::AdapterId;
use crate::engine::sampling::Sampling;
pub(crate) use crate::model::{ChatMessage, Role};

/// The proposal / reference view of the rejection-sampling methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    /// The base model with the plain (template default) system prompt.
    Plain,
    /// The persona prompt (PP) as the proposal.
    Persona,
    /// The DPO-Soups view: plain prompt, adapter experts merged with weights α.
    Soup,
}

/// What an expert view is: a system prompt on the base model (training-free
/// MPG), a LoRA adapter on the plain prompt (the MPG paper's experts), or
/// the plain model itself (MOD's anchor: `plain = 1 − α, adapter = α` moves
/// an adapter along `π_plain^(1−α) · π_adapter^α`, α < 0 away from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpertKind {
    Prompt { prompt: String },
    Adapter { adapter: usize },
    Plain,
}

/// An expert with its weight α (negative pushes away from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightedExpert {
    pub name: String,
    #[serde(flatten)]
    pub kind: ExpertKind,
    pub alpha: f64,
}

impl WeightedExpert {
    pub fn prompt(name: &str, prompt: &str, alpha: f64) -> Self {
        Self {
            name: name.to_string(),
            kind: ExpertKind::Prompt {
                prompt: prompt.to_string(),
            },
            alpha,
        }
    }

    /// The plain model (no system prompt, no adapter) as an expert.
    pub fn plain(alpha: f64) -> Self {
        Self {
            name: "plain".to_string(),
            kind: ExpertKind::Plain,
            alpha,
        }
    }

    pub fn adapter(name: &str, adapter: AdapterId, alpha: f64) -> Self {
        Self {
            name: name.to_string(),
            kind: ExpertKind::Adapter { adapter: adapter.0 },
            alpha,
        }
    }
}

/// One earlier turn of the conversation (user or assistant).
pub type Turn = ChatMessage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub method: Method,
    pub persona: Option<Persona>,
    pub experts: Vec<WeightedExpert>,
    pub reference: Reference,
    /// The conversation so far (user, assistant, user, ..., assistant);
    /// every view sees it, under its own system prompt, before `user`.
    #[serde(default)]
    pub history: Vec<Turn>,
    /// The new user message.
    pub user: String,
    pub max_tokens: usize,
    pub seed: u64,
    /// Final decisions of Base, PP, PDD and MOD (greedy or temperature/top-p).
    pub sampling: Sampling,
    pub pdd: PddConfig,
    pub scr: ScrConfig,
    pub max_seq_tries: usize,
    /// Divide every α by their sum (which must be positive), so that MOD is
    /// a weighted geometric average of the experts and Soups a weighted
    /// average of their deltas, as the MPG paper's baselines mean them. Off:
    /// α as given (MOD with α = (1, 1) is π₁·π₂, Soups adds both deltas).
    #[serde(default)]
    pub normalize_alpha: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            method: Method::default(),
            persona: None,
            experts: Vec::new(),
            reference: Reference::Plain,
            history: Vec::new(),
            user: String::new(),
            max_tokens: 128,
            seed: 0,
            sampling: Sampling::Greedy,
            pdd: PddConfig::default(),
            scr: ScrConfig::default(),
            max_seq_tries: 8,
            normalize_alpha: false,
        }
    }
}

/// The largest |α| a run accepts: far past any useful extrapolation (the
/// page's sliders span −1..1), and small enough that α times a log-prob stays
/// finite in the GPU's f32 arithmetic.
pub const MAX_ABS_ALPHA: f64 = 100.0;

impl RunConfig {
    /// The same question, history, length and sampling under the plain
    /// model (Base, no experts): the α = 0 column of the page's pole contrast.
    pub fn unsteered(&self) -> RunConfig {
        RunConfig {
            method: Method::Base,
            experts: Vec::new(),
            ..self.clone()
        }
    }

    /// This method with `expert` as the only steering weight (the pole
    /// contrast, `persona eval-steering`); α = 0 is [`Self::unsteered`].
    /// MOD's weights multiply whole distributions (p ∝ Π π_i^α_i), so the
    /// plain model takes the rest of the weight, 1 − α: α = −1 is then
    /// π_plain² / π_expert (the MPG paper's negative weight), not 1 / π_expert,
    /// which would favour the expert's least likely tokens. The other methods
    /// weigh experts against their reference already.
    pub fn single_expert(&self, expert: WeightedExpert) -> RunConfig {
        if expert.alpha == 0.0 {
            return self.unsteered();
        }
        let mut experts = vec![expert.clone()];
        if self.method == Method::Mod && expert.alpha != 1.0 {
            experts.push(WeightedExpert::plain(1.0 - expert.alpha));
        }
        RunConfig {
            experts,
            ..self.clone()
        }
    }

    /// Every expert's α, in `experts` order: as given, or divided by their
    /// sum (`normalize_alpha`).
    pub fn alpha(&self) -> Vec<f64> {
        let raw = self.experts.iter().map(|e| e.alpha);
        let sum: f64 = raw.clone().sum();
        match self.normalize_alpha {
            true => raw.map(|a| a / sum).collect(),
            false => raw.collect(),
        }
    }

    /// The rejection samplers' settings in force, with the experts' `alpha`
    /// (which the exact preset's bound depends on).
    pub(crate) fn sampler(&self, alpha: &[f64]) -> ScrConfig {
        ScrConfig {
            alpha: alpha.to_vec(),
            ..self.scr.clone()
        }
        .in_force()
    }

    /// How many views (rows) its method evaluates.
    pub fn view_count(&self) -> usize {
        self.method.view_count(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PddConfig {
    pub beta: f64,
    pub top_k: usize,
    /// Length of the greedy PIE answer `G`.
    pub pie_tokens: usize,
    /// Scale the importance vector to unit L1 norm (default; `false` keeps the
    /// paper's raw nats, which can be tens and swamp the base model).
    pub unit_importance: bool,
    /// Weights set by the user (sliders): used instead of PIE's; every
    /// non-zero weight counts as selected.
    pub weights: Option<Vec<f64>>,
    pub sampling: Sampling,
}

impl Default for PddConfig {
    fn default() -> Self {
        Self {
            beta: 1.0,
            top_k: 2,
            pie_tokens: 48,
            unit_importance: true,
            weights: None,
            sampling: Sampling::Greedy,
        }
    }
}

/// What the rejection samplers' accepted chunks follow (docs/ALGORITHMS.md
/// "What each method samples"). With `q` the proposal actually drawn from
/// (the reference tempered by T and cut to its top-p nucleus) and
/// `R(C) = max(0, Σ α_i π_i(C) / π_ref(C))`:
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// `q(C) · R(C)`: the MPG ratio applied to the tempered, truncated
    /// reference (the MPG paper's practice: T 0.7, top-p 0.9, test on `R`).
    #[default]
    Tempered,
    /// `π_ref(C) · R(C) = max(0, Σ α_i π_i(C))` on the nucleus: the MPG
    /// target itself; the test divides by `q` (`S = log R + log π_ref − log q`).
    Mpg,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "tempered" => Ok(Target::Tempered),
            "mpg" => Ok(Target::Mpg),
            other => Err(format!(
                "unknown target {other:?}: expected tempered or mpg"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrConfig {
    pub k: usize,
    pub alpha: Vec<f64>,
    pub bound: BoundConfig,
    /// The reference's proposal sampling (paper: temperature 0.7, top-p 0.9).
    pub proposal: Sampling,
    pub max_fallback_tries: usize,
    /// Test prefixes of a rejected chunk (the paper's prefix salvage).
    pub salvage: bool,
    /// The distribution the acceptance test aims at (see `Target`).
    #[serde(default)]
    pub target: Target,
    /// Exact chunk-level MPG sampling: T = 1, top-p = 1, target `mpg`, no
    /// salvage, a fixed bound (`bound.fixed`, else [`BoundConfig::conservative`]),
    /// and a rejected chunk proposed again (up to `max_fallback_tries`, at
    /// least [`EXACT_RETRIES`], times) instead of RS-1. See `in_force`.
    #[serde(default)]
    pub exact: bool,
}

impl Default for ScrConfig {
    fn default() -> Self {
        Self {
            k: 4,
            alpha: Vec::new(),
            bound: BoundConfig::default(),
            proposal: Sampling::TopP {
                temperature: 0.7,
                top_p: 0.9,
                seed: 0,
            },
            max_fallback_tries: 16,
            salvage: true,
            target: Target::Tempered,
            exact: false,
        }
    }
}

/// The fewest re-proposals of a chunk the exact preset makes before RS-1
/// (an RS-1 token is outside the chunk-level target; runs count them as
/// fallback tokens).
pub const EXACT_RETRIES: usize = 256;

impl ScrConfig {
    /// The settings a run actually uses: these, or with `exact` the exact
    /// preset over them (the seed and k kept).
    pub fn in_force(&self) -> ScrConfig {
        if !self.exact {
            return self.clone();
        }
        let seed = match self.proposal {
            Sampling::TopP { seed, .. } => seed,
            Sampling::Greedy => 0,
        };
        ScrConfig {
            proposal: Sampling::TopP {
                temperature: 1.0,
                top_p: 1.0,
                seed,
            },
            target: Target::Mpg,
            salvage: false,
            max_fallback_tries: self.max_fallback_tries.max(EXACT_RETRIES),
            bound: BoundConfig {
                fixed: Some(
                    self.bound
                        .fixed
                        .unwrap_or_else(|| BoundConfig::conservative(&self.alpha, self.k)),
                ),
                ..self.bound
            },
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_expert_gives_mod_the_plain_model_as_its_complement() {
        let base = |method: &str| RunConfig {
            method: method.parse().unwrap(),
            experts: vec![WeightedExpert::prompt("F", "f", 0.7)],
            user: "hi".into(),
            ..RunConfig::default()
        };
        let e = |alpha| WeightedExpert::prompt("E", "e", alpha);
        let weights = |cfg: &RunConfig| -> Vec<(String, f64)> {
            cfg.experts
                .iter()
                .map(|x| (x.name.clone(), x.alpha))
                .collect()
        };
        let m = base("mod");
        assert_eq!(
            weights(&m.single_expert(e(-1.0))),
            vec![("E".into(), -1.0), ("plain".into(), 2.0)]
        );
        assert_eq!(weights(&m.single_expert(e(1.0))), vec![("E".into(), 1.0)]);
        let plain = m.single_expert(e(0.0));
        assert_eq!(plain.method, Method::Base);
        assert!(plain.experts.is_empty() && plain.user == "hi");
        let scr = base("scr").single_expert(e(-1.0));
        assert_eq!(weights(&scr), vec![("E".into(), -1.0)]);
        scr.validate().unwrap();
    }

    #[test]
    fn normalised_alpha_is_a_weighted_average_and_needs_a_positive_sum() {
        let mut cfg = RunConfig {
            method: "mod".parse().unwrap(),
            experts: vec![
                WeightedExpert::prompt("A", "a", 1.0),
                WeightedExpert::prompt("B", "b", 1.0),
            ],
            user: "hi".into(),
            ..RunConfig::default()
        };
        assert_eq!(cfg.alpha(), vec![1.0, 1.0], "off: as given");
        cfg.normalize_alpha = true;
        assert_eq!(cfg.alpha(), vec![0.5, 0.5]);
        cfg.validate().unwrap();
        cfg.experts[1].alpha = -1.5;
        assert_eq!(cfg.alpha(), vec![-2.0, 3.0]);
        cfg.experts[0].alpha = 1.5;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("positive sum"), "{err}");
    }

    #[test]
    fn the_exact_preset_fixes_every_setting_it_names() {
        let scr = ScrConfig {
            alpha: vec![1.0, -0.5],
            exact: true,
            proposal: Sampling::TopP {
                temperature: 0.7,
                top_p: 0.9,
                seed: 9,
            },
            ..ScrConfig::default()
        };
        let f = scr.in_force();
        assert_eq!(
            f.proposal,
            Sampling::TopP {
                temperature: 1.0,
                top_p: 1.0,
                seed: 9
            }
        );
        assert_eq!((f.target, f.salvage), (Target::Mpg, false));
        assert_eq!(f.max_fallback_tries, EXACT_RETRIES);
        assert_eq!(
            f.bound.fixed,
            Some(BoundConfig::conservative(&[1.0, -0.5], 4))
        );
        let off = ScrConfig {
            exact: false,
            ..scr
        };
        assert_eq!(off.in_force(), off);
    }
}
