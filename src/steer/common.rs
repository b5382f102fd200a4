//! Pieces every policy shares: stopping rules, the run outcome, top-k
//! alternatives for the UI, and log-space normalisation.

use rand_chacha::ChaCha8Rng;

use crate::backend::{Mix, MixRead, Mixed, MAX_TOP_K};
use crate::dist::top_ids;
use crate::engine::sampling::{sample_top, Sampling};
use crate::engine::StopReason;

/// When a response ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_tokens: usize,
    pub eos: u32,
}

/// What a policy produced, besides its events.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub tokens: Vec<u32>,
    pub stop_reason: StopReason,
    pub proposed: u64,
    pub rejected: u64,
    pub fallback_tokens: u64,
    pub forced_tokens: u64,
    /// Sampled steps whose nucleus reached past the candidates read back,
    /// so the views were read densely again (sparse read-outs' fallback).
    pub dense_rereads: u64,
    /// Rejection tests made, and those whose score exceeded the bound in
    /// force (accepted surely: more often than the target asks).
    pub bound_tests: u64,
    pub bound_violations: u64,
}

impl Outcome {
    /// Records an emitted token; true when the response is complete.
    pub(crate) fn push(&mut self, token: u32, limits: &Limits) -> bool {
        self.tokens.push(token);
        if token == limits.eos {
            self.stop_reason = StopReason::Eos;
            true
        } else if self.tokens.len() >= limits.max_tokens {
            self.stop_reason = StopReason::MaxTokens;
            true
        } else {
            false
        }
    }

    /// Takes the rejection tests a bound counted.
    pub(crate) fn count_tests(&mut self, bound: &super::bound::Bound) {
        self.bound_tests += bound.tests;
        self.bound_violations += bound.violations;
    }

    pub(crate) fn done(&self, limits: &Limits) -> bool {
        self.tokens.last() == Some(&limits.eos) || self.tokens.len() >= limits.max_tokens
    }
}

/// Alternatives shown per token.
pub(crate) const ALTERNATIVES: usize = 5;

/// Top-5 alternatives: steered probability and the base model's.
pub(crate) fn alternatives(
    base_lp: &[f32],
    steered_logp: &[f64],
) -> Vec<super::events::Alternative> {
    top_ids(steered_logp, ALTERNATIVES)
        .into_iter()
        .map(|id| super::events::Alternative {
            id,
            text: String::new(),
            base_p: (base_lp[id as usize] as f64).exp(),
            steered_p: steered_logp[id as usize].exp(),
        })
        .collect()
}

/// The alternatives of a mixed read-out (row `base` is the base model's).
pub(crate) fn alternatives_mixed(mixed: &Mixed, base: usize) -> Vec<super::events::Alternative> {
    mixed
        .top
        .iter()
        .zip(&mixed.at_top[base])
        .take(ALTERNATIVES)
        .map(|(&(id, steered), &base_lp)| super::events::Alternative {
            id,
            text: String::new(),
            base_p: (base_lp as f64).exp(),
            steered_p: (steered as f64).exp(),
        })
        .collect()
}

/// The read that decides the next step where the log-probs live, after
/// the step's token is appended: the mix's best tokens (the alternatives),
/// or, when sampling, its candidates with the tempered mass a nucleus draw
/// needs.
pub(crate) fn decision_read(mix: Mix, sampling: &Sampling) -> MixRead {
    match *sampling {
        Sampling::Greedy => MixRead::top(mix, ALTERNATIVES),
        Sampling::TopP {
            temperature, top_p, ..
        } => MixRead::top(mix, MAX_TOP_K).nucleus(temperature, top_p),
    }
}

/// The token a `decision_read` gives and its index in `top`: `None` (and
/// no draw) when the nucleus reaches past the candidates, so the caller
/// reads its views densely again (`ViewModel::reread`) and decides there.
pub(crate) fn decide(
    mixed: &Mixed,
    sampling: &Sampling,
    rng: &mut ChaCha8Rng,
) -> Option<(u32, usize)> {
    let token = sample_top(&mixed.top, mixed.mass.unwrap_or(0.0), sampling, rng)?;
    let j = mixed
        .top
        .iter()
        .position(|t| t.0 == token)
        .expect("drawn from top");
    Some((token, j))
}

/// Chooses from a normalised f64 log-distribution with the run's sampling.
pub(crate) fn choose(logp: &[f64], sampling: &Sampling, rng: &mut ChaCha8Rng) -> u32 {
    let as_f32: Vec<f32> = logp.iter().map(|&v| v as f32).collect();
    crate::engine::sampling::sample(&as_f32, sampling, rng)
}
