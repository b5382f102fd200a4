//! The settings panel: the system prompt, and under "Advanced settings" the
//! decoding choices (greedy by default; temperature, top-p and seed for
//! sampling; the seed also drives SCR's and the RS methods' proposals) and
//! the answer length. Values are checked when a message is sent
//! (`settings::parse`).

use leptos::prelude::*;

use super::methods;
use super::settings::MAX_TOKENS_LIMIT;
use super::state::AppState;

#[component]
pub(crate) fn SettingsPanel() -> impl IntoView {
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
