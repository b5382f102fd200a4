//! The settings panel: the system prompt, and under "Advanced settings" the
//! decoding choices (greedy by default; temperature, top-p and seed for
//! sampling; the seed also drives SCR's and the RS methods' proposals) and
//! the answer length. Values are checked when a message is sent.

use leptos::prelude::*;

use super::methods;
use super::state::{AppState, Settings};
use crate::engine::Sampling;

/// Largest answer length the page offers.
pub const MAX_TOKENS_LIMIT: usize = 2048;

/// The answer length and sampling from the typed settings, or a message
/// saying which value to fix.
pub fn parse(settings: &Settings) -> Result<(usize, Sampling), String> {
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
pub fn parse_seed(settings: &Settings) -> Result<u64, String> {
    settings
        .seed
        .get_untracked()
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s < (1u64 << 53))
        .ok_or_else(|| "the seed must be a whole number from 0 to 9007199254740991".to_string())
}

#[component]
pub fn SettingsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let s = state.settings;
    let sampling_off = move || s.greedy.get();
    let seed_off =
        move || s.greedy.get() && !state.lanes.iter().any(|l| methods::samples(l.method.get()));
    view! {
        <section class="settings" aria-label="Settings">
            <div class="field">
                <label for="system-prompt">"System prompt"</label>
                <p id="system-help" class="help">"Sets the assistant's role or persona for the whole chat."</p>
                <textarea
                    id="system-prompt"
                    rows="3"
                    aria-describedby="system-help"
                    placeholder="Optional — empty uses SmolLM2's default"
                    bind:value=s.system
                ></textarea>
            </div>
            <details class="advanced">
                <summary>"Advanced settings"</summary>
                <div class="advanced-body">
                    <label class="check">
                        <input id="greedy" type="checkbox" bind:checked=s.greedy />
                        <span>"Greedy decoding"</span>
                        <span class="help">"always the most likely token; the same answer every time"</span>
                    </label>
                    <div class="grid">
                        <div class="field">
                            <label for="temperature">"Temperature"</label>
                            <input
                                id="temperature"
                                type="number"
                                inputmode="decimal"
                                step="0.05"
                                min="0.05"
                                max="5"
                                disabled=sampling_off
                                bind:value=s.temperature
                            />
                        </div>
                        <div class="field">
                            <label for="top-p">"Top-p"</label>
                            <input
                                id="top-p"
                                type="number"
                                inputmode="decimal"
                                step="0.05"
                                min="0.05"
                                max="1"
                                disabled=sampling_off
                                bind:value=s.top_p
                            />
                        </div>
                        <div class="field">
                            <label for="seed">"Seed"</label>
                            <input
                                id="seed"
                                type="number"
                                inputmode="numeric"
                                step="1"
                                min="0"
                                disabled=seed_off
                                bind:value=s.seed
                            />
                        </div>
                        <div class="field">
                            <label for="max-tokens">"Max tokens"</label>
                            <input
                                id="max-tokens"
                                type="number"
                                inputmode="numeric"
                                step="1"
                                min="1"
                                max=MAX_TOKENS_LIMIT.to_string()
                                bind:value=s.max_tokens
                            />
                        </div>
                    </div>
                    <p class="help">
                        {move || {
                            if s.greedy.get() {
                                "Turn greedy decoding off to sample with temperature, top-p and a seed (the same seed gives the same answer)."
                            } else {
                                "Sampling: lower temperature or top-p for safer answers, raise them for more variety."
                            }
                        }}
                    </p>
                </div>
            </details>
        </section>
    }
}
