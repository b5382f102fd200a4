//! The shared settings as the engine takes them: the answer length and
//! the sampling (greedy, or temperature, top-p and seed), read from what was
//! typed in the settings panel (`settings_panel`) when a message is sent.

use leptos::prelude::*;

use super::state::Settings;
use crate::engine::Sampling;

/// Largest answer length the page offers.
pub(crate) const MAX_TOKENS_LIMIT: usize = 2048;

/// The answer length and sampling from the typed settings, or a message
/// saying which value to fix.
pub(crate) fn parse(settings: &Settings) -> Result<(usize, Sampling), String> {
    let max_tokens = settings
        .max_tokens
        .get_untracked()
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_TOKENS_LIMIT).contains(n))
        .ok_or_else(|| format!("max tokens must be a whole number from 1 to {MAX_TOKENS_LIMIT}"))?;
    if settings.greedy.get_untracked() {
        return Ok((max_tokens, Sampling::Greedy));
    }
    let temperature = settings
        .temperature
        .get_untracked()
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|t| t.is_finite() && *t > 0.0 && *t <= 5.0)
        .ok_or("temperature must be a number above 0 and at most 5 (try 0.7)")?;
    let top_p = settings
        .top_p
        .get_untracked()
        .trim()
        .parse::<f32>()
        .ok()
        .filter(|p| *p > 0.0 && *p <= 1.0)
        .ok_or("top-p must be a number above 0 and at most 1 (try 0.9)")?;
    let seed = parse_seed(settings)?;
    Ok((
        max_tokens,
        Sampling::TopP {
            temperature,
            top_p,
            seed,
        },
    ))
}

/// The seed as typed (also used by greedy runs of the sampling methods).
pub(crate) fn parse_seed(settings: &Settings) -> Result<u64, String> {
    settings
        .seed
        .get_untracked()
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s < (1u64 << 53))
        .ok_or_else(|| "the seed must be a whole number from 0 to 9007199254740991".to_string())
}
