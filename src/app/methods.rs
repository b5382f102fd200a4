//! The methods the page offers and how a lane's settings become the
//! engine's `RunConfig`: the persona preset for PP and PDD, a signed weight
//! α per expert (the eight MBTI pole prompts, then the session's LoRA
//! adapters) for SCR, MOD, the rejection samplers and Soups. The engine
//! validates the configuration before any compute; the page checks it too
//! before a re-run, so a bad slider never replaces a good answer.

use std::sync::OnceLock;

use leptos::prelude::*;

use super::settings;
use super::state::{AppState, Lane};
use crate::backend::AdapterId;
use crate::engine::Sampling;
use crate::steer::persona::{builtin_experts, Persona, PromptExpert};
use crate::steer::{Experts, Knob, Method, RunConfig};
use crate::steer::{Turn as RunTurn, WeightedExpert};

/// The shipped personas (compiled in), parsed once.
pub(crate) fn personas() -> &'static [Persona] {
    static P: OnceLock<Vec<Persona>> = OnceLock::new();
    P.get_or_init(Persona::builtin)
}

/// The eight MBTI pole prompt experts (compiled in), parsed once.
pub(crate) fn experts() -> &'static [PromptExpert] {
    static E: OnceLock<Vec<PromptExpert>> = OnceLock::new();
    E.get_or_init(builtin_experts)
}

/// Starting weights: a little toward E and F, the rest off.
pub(crate) fn default_alphas() -> Vec<f64> {
    experts()
        .iter()
        .map(|e| match e.name.as_str() {
            "E" => 0.6,
            "F" => 0.4,
            _ => 0.0,
        })
        .collect()
}

/// The page's label of a method (its description's).
pub(crate) fn label(method: Method) -> &'static str {
    method.info().label
}

/// Its one line of help.
pub(crate) fn help(method: Method) -> &'static str {
    method.info().help
}

pub(crate) fn uses_persona(method: Method) -> bool {
    method.info().persona
}

/// Methods weighted by α (Soups weights adapters only).
pub(crate) fn uses_experts(method: Method) -> bool {
    method.info().uses_experts()
}

/// Methods whose proposals are random (need a seed even when greedy).
pub(crate) fn samples(method: Method) -> bool {
    method.info().random_proposals
}

/// Methods that weight LoRA adapters only (they need one loaded).
pub(crate) fn adapters_only(method: Method) -> bool {
    method.info().experts == Experts::AdaptersOnly
}

fn parse_num<T: std::str::FromStr>(value: String, what: &str) -> Result<T, String> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| format!("{what} must be a number"))
}

/// Every expert of a lane with its α: the prompt experts, then the adapters.
pub(crate) fn weighted_experts(state: &AppState, lane: Lane) -> Vec<WeightedExpert> {
    let alphas = state.lane(lane).alphas.get_untracked();
    let alpha = |i: usize| alphas.get(i).copied().unwrap_or(0.0);
    let n = experts().len();
    let mut all: Vec<WeightedExpert> = experts()
        .iter()
        .enumerate()
        .map(|(i, e)| WeightedExpert::prompt(&e.name, &e.prompt, alpha(i)))
        .collect();
    state.adapters.with_untracked(|adapters| {
        all.extend(
            adapters
                .iter()
                .enumerate()
                .map(|(j, a)| WeightedExpert::adapter(&a.name, AdapterId(a.id), alpha(n + j))),
        )
    });
    all
}

/// "SCR · E +0.6, F +0.4" — a lane's method and its non-zero weights.
pub(crate) fn summary(state: &AppState, lane: Lane) -> String {
    let method = state.lane(lane).method.get_untracked();
    let mut words = label(method).to_string();
    if uses_experts(method) {
        let parts: Vec<String> = weighted_experts(state, lane)
            .iter()
            .filter(|e| e.alpha != 0.0)
            .map(|e| format!("{} {}", e.name, signed(e.alpha)))
            .collect();
        if !parts.is_empty() {
            words.push_str(&format!(" · {}", parts.join(", ")));
        }
    }
    if uses_persona(method) {
        if let Some(p) = personas().get(state.settings.persona.get_untracked()) {
            words.push_str(&format!(" · {}", p.name));
        }
    }
    words
}

/// The engine configuration for one steered answer of `lane` to `user`
/// after `history`, and the names of the weighted experts sent (the order
/// of per-expert rewards). Checked like the engine checks it.
pub(crate) fn run_config(
    state: &AppState,
    lane: Lane,
    history: Vec<RunTurn>,
    user: &str,
) -> Result<(RunConfig, Vec<String>), String> {
    let s = state.settings;
    let m = state.lane(lane);
    let method = m.method.get_untracked();
    let (max_tokens, sampling) = settings::parse(&s)?;
    let seed = settings::parse_seed(&s)?;
    let mut cfg = RunConfig {
        method,
        history,
        user: user.to_string(),
        max_tokens,
        seed,
        sampling,
        ..RunConfig::default()
    };
    if uses_persona(method) {
        let i = s.persona.get_untracked();
        cfg.persona = Some(
            personas()
                .get(i)
                .cloned()
                .ok_or("choose a persona preset")?,
        );
    }
    let mut names = Vec::new();
    if uses_experts(method) {
        let all: Vec<WeightedExpert> = weighted_experts(state, lane)
            .into_iter()
            .filter(|e| {
                !adapters_only(method) || matches!(e.kind, crate::steer::ExpertKind::Adapter { .. })
            })
            .collect();
        if all.is_empty() {
            return Err(format!(
                "{} merges LoRA adapters: load one under “LoRA adapters” first",
                label(method)
            ));
        }
        // Experts at α = 0 cost a row and change nothing; when all are zero,
        // send them all so the engine explains why that cannot steer.
        let nonzero: Vec<WeightedExpert> = all.iter().filter(|e| e.alpha != 0.0).cloned().collect();
        cfg.experts = if nonzero.is_empty() { all } else { nonzero };
        names = cfg.experts.iter().map(|e| e.name.clone()).collect();
    }
    cfg.pdd.beta = parse_num(m.beta.get_untracked(), "β")?;
    cfg.pdd.top_k = parse_num(m.top_k.get_untracked(), "K")?;
    cfg.pdd.weights = m.pdd_weights.get_untracked();
    cfg.scr.k = parse_num(m.k.get_untracked(), "the chunk size k")?;
    cfg.scr.exact = m.exact.get_untracked() && cfg.method.info().knobs.contains(&Knob::ChunkSize);
    if let Sampling::TopP {
        temperature, top_p, ..
    } = sampling
    {
        // Sampling settings also drive the proposals of SCR and the RS methods.
        cfg.scr.proposal = Sampling::TopP {
            temperature,
            top_p,
            seed,
        };
    }
    Ok((cfg, names))
}

/// "+0.6", "−0.4", "0".
pub(crate) fn signed(a: f64) -> String {
    if a > 0.0 {
        format!("+{a:.1}")
    } else if a < 0.0 {
        format!("−{:.1}", -a)
    } else {
        "0".to_string()
    }
}

/// "SCR · E +0.6, F +0.4" for a configuration that ran (column heads, replays).
pub(crate) fn config_summary(cfg: &RunConfig) -> String {
    let mut words = label(cfg.method).to_string();
    if uses_experts(cfg.method) {
        let parts: Vec<String> = cfg
            .experts
            .iter()
            .filter(|e| e.alpha != 0.0)
            .map(|e| format!("{} {}", e.name, signed(e.alpha)))
            .collect();
        words.push_str(&format!(" · {}", parts.join(", ")));
    }
    if let Some(p) = cfg.persona.as_ref().filter(|_| uses_persona(cfg.method)) {
        words.push_str(&format!(" · {}", p.name));
    }
    if cfg.method.info().knobs.contains(&Knob::ImportanceWeights) && cfg.pdd.weights.is_some() {
        words.push_str(" · your weights");
    }
    words
}
