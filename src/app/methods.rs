//! The method picker: which decoding method answers (the plain chat, or one
//! of the persona-steering methods), the persona preset for PP and PDD, and
//! a signed weight α per MBTI pole expert for SCR, MOD and the rejection
//! samplers. `run_config` turns these (and the advanced settings) into the
//! engine's `RunConfig`; the engine validates it before any compute.

use std::sync::OnceLock;

use leptos::prelude::*;

use super::settings;
use super::state::{AppState, Settings};
use crate::engine::Sampling;
use crate::steer::persona::{builtin_experts, Persona, PromptExpert};
use crate::steer::run::WeightedExpert;
use crate::steer::{Method, RunConfig};

/// The shipped personas (compiled in), parsed once.
pub fn personas() -> &'static [Persona] {
    static P: OnceLock<Vec<Persona>> = OnceLock::new();
    P.get_or_init(Persona::builtin)
}

/// The eight MBTI pole prompt experts (compiled in), parsed once.
pub fn experts() -> &'static [PromptExpert] {
    static E: OnceLock<Vec<PromptExpert>> = OnceLock::new();
    E.get_or_init(builtin_experts)
}

/// Starting weights: a little toward E and F, the rest off.
pub fn default_alphas() -> Vec<f64> {
    experts()
        .iter()
        .map(|e| match e.name.as_str() {
            "E" => 0.6,
            "F" => 0.4,
            _ => 0.0,
        })
        .collect()
}

/// The methods in the order the picker shows them, with a one-line explanation.
pub const METHODS: [(Method, &str, &str); 8] = [
    (
        Method::Base,
        "Base",
        "The plain chat: the model as it is, multi-turn, with your system prompt.",
    ),
    (
        Method::Pp,
        "PP",
        "Persona prompting: the persona's attributes become the system prompt.",
    ),
    (
        Method::Pdd,
        "PDD",
        "Persona-driven decoding: measures which attributes matter (PIE), then favours tokens that depend on the top-K of them.",
    ),
    (
        Method::Scr,
        "SCR",
        "Speculative chunk rejection: proposes k tokens at a time and keeps the prefix the α-weighted experts accept.",
    ),
    (
        Method::Mod,
        "MOD",
        "Multi-objective decoding: mixes the experts' next-token log-probs with weights α at every step.",
    ),
    (
        Method::TokenRs,
        "Token-RS",
        "Token-level rejection sampling toward the α-weighted expert mix, one token at a time.",
    ),
    (
        Method::SeqRs,
        "Seq-RS",
        "Sequence-level rejection sampling: whole proposed answers are accepted or rejected by the expert mix.",
    ),
    (
        Method::Soups,
        "Soups",
        "DPO Soups merges LoRA adapters with weights α — needs LoRA adapters, which the page cannot load.",
    ),
];

pub fn label(method: Method) -> &'static str {
    METHODS
        .iter()
        .find(|(m, ..)| *m == method)
        .map(|(_, l, _)| *l)
        .unwrap_or("?")
}

pub fn uses_persona(method: Method) -> bool {
    matches!(method, Method::Pp | Method::Pdd)
}

pub fn uses_experts(method: Method) -> bool {
    matches!(
        method,
        Method::Scr | Method::Mod | Method::TokenRs | Method::SeqRs
    )
}

/// Methods whose proposals are random (need a seed even when greedy).
pub fn samples(method: Method) -> bool {
    matches!(method, Method::Scr | Method::TokenRs | Method::SeqRs)
}

fn parse_num<T: std::str::FromStr>(value: &RwSignal<String>, what: &str) -> Result<T, String> {
    value
        .get_untracked()
        .trim()
        .parse::<T>()
        .map_err(|_| format!("{what} must be a number"))
}

/// The engine configuration for one steered answer to `user`, and the names
/// of the weighted experts sent (the order of per-expert rewards).
pub fn run_config(s: &Settings, user: &str) -> Result<(RunConfig, Vec<String>), String> {
    let method = s.method.get_untracked();
    let (max_tokens, sampling) = settings::parse(s)?;
    let seed = settings::parse_seed(s)?;
    let mut cfg = RunConfig {
        method,
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
        let alphas = s.alphas.get_untracked();
        let all: Vec<WeightedExpert> = experts()
            .iter()
            .zip(&alphas)
            .map(|(e, a)| WeightedExpert::prompt(&e.name, &e.prompt, *a))
            .collect();
        // Experts at α = 0 cost a row and change nothing; when all are zero,
        // send them all so the engine explains why that cannot steer.
        let nonzero: Vec<WeightedExpert> = all.iter().filter(|e| e.alpha != 0.0).cloned().collect();
        cfg.experts = if nonzero.is_empty() { all } else { nonzero };
        names = cfg.experts.iter().map(|e| e.name.clone()).collect();
    }
    cfg.pdd.beta = parse_num(&s.beta, "β")?;
    cfg.pdd.top_k = parse_num(&s.top_k, "K")?;
    cfg.scr.k = parse_num(&s.k, "the chunk size k")?;
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

fn signed(a: f64) -> String {
    if a > 0.0 {
        format!("+{a:.1}")
    } else if a < 0.0 {
        format!("−{:.1}", -a)
    } else {
        "0".to_string()
    }
}

#[component]
pub fn MethodPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let s = state.settings;
    let busy = move || state.generation.get().is_busy();
    let options = METHODS
        .iter()
        .map(|&(method, name, help)| {
            let disabled = method == Method::Soups;
            let id = format!("method-{}", method.name());
            let for_id = id.clone();
            view! {
                <label class="method-option" class:disabled=disabled for=for_id>
                    <input
                        type="radio"
                        name="method"
                        id=id
                        value=method.name()
                        disabled=move || disabled || busy()
                        prop:checked=move || s.method.get() == method
                        on:change=move |_| s.method.set(method)
                    />
                    <span class="method-name">{name}</span>
                    <span class="help">{help}</span>
                </label>
            }
        })
        .collect_view();
    let persona_card = move || {
        let p = personas().get(s.persona.get())?;
        Some(view! {
            <div class="persona-card">
                <p class="persona-summary">{p.summary.clone()}</p>
                <ul class="attributes">
                    {(0..p.len())
                        .map(|i| {
                            view! {
                                <li>
                                    <b>{p.attribute_name(i).to_string()}</b>
                                    {format!(": {}", p.attribute_value(i))}
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </div>
        })
    };
    let sliders = move || {
        experts()
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let id = format!("alpha-{}", e.name);
                let for_id = id.clone();
                let value = move || s.alphas.with(|a| a.get(i).copied().unwrap_or(0.0));
                view! {
                    <div class="alpha" data-expert=e.name.clone()>
                        <label for=for_id title=e.prompt.clone()>
                            {e.name.clone()}
                        </label>
                        <input
                            type="range"
                            id=id
                            min="-1"
                            max="1"
                            step="0.1"
                            aria-label=format!("α for expert {} (axis {})", e.name, e.axis)
                            prop:value=move || format!("{:.1}", value())
                            on:input=move |ev| {
                                if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                    s.alphas.update(|a| {
                                        if let Some(x) = a.get_mut(i) {
                                            *x = (v * 10.0).round() / 10.0;
                                        }
                                    });
                                }
                            }
                        />
                        <output class="alpha-value" data-sign=move || {
                            let v = value();
                            if v > 0.0 { "pos" } else if v < 0.0 { "neg" } else { "zero" }
                        }>{move || signed(value())}</output>
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <section class="settings methods" aria-label="Decoding method">
            <fieldset class="method-list">
                <legend>"Method"</legend>
                {options}
            </fieldset>
            <Show when=move || uses_persona(s.method.get())>
                <div class="field">
                    <label for="persona">"Persona"</label>
                    <select
                        id="persona"
                        on:change=move |ev| {
                            if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                                s.persona.set(i);
                            }
                        }
                    >
                        {personas()
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                view! {
                                    <option value=i.to_string() selected=move || s.persona.get() == i>
                                        {p.name.clone()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    {persona_card}
                </div>
            </Show>
            <Show when=move || uses_experts(s.method.get())>
                <div class="field">
                    <p class="label">"Expert weights α"</p>
                    <p class="help">
                        "Each expert writes like one MBTI pole. α > 0 pulls the answer toward it, α < 0 pushes away, 0 leaves it out."
                    </p>
                    <div class="alphas">{sliders}</div>
                    <button
                        type="button"
                        class="button quiet small"
                        on:click=move |_| s.alphas.set(default_alphas())
                    >
                        "Reset weights"
                    </button>
                </div>
            </Show>
            <Show when=move || s.method.get() != Method::Base>
                <p class="help note">
                    "Steered answers see only your latest message (no history, no system prompt). Hover or focus a token for its rewards."
                </p>
            </Show>
        </section>
    }
}
