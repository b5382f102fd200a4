//! The method panel: compare mode (two lanes answer side by side) with a
//! tab per lane, and for the lane being edited the method picker, the
//! persona preset, the α sliders (prompt experts and loaded adapters; moving
//! one re-runs the last answer with the same seed) and the method's own
//! knobs (SCR's k, PDD's β and K).

use leptos::prelude::*;

use super::actions::rerun;
use super::client::Clients;
use super::methods::{self, adapters_only, experts, personas, signed, uses_experts, uses_persona};
use super::state::{AppState, Lane, MethodSettings};
use crate::steer::{Knob, Method};

/// Element ids of lane B's controls carry this prefix (`b-alpha-E`).
fn prefix(lane: Lane) -> &'static str {
    match lane {
        Lane::A => "",
        Lane::B => "b-",
    }
}

#[component]
pub(crate) fn MethodPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let toggle = move |on: bool| {
        state.compare.set(on);
        if on {
            state.lane(Lane::B).copy_from(&state.lane(Lane::A));
            state.editing.set(Lane::B);
            clients.b.ensure_started();
        } else {
            state.editing.set(Lane::A);
        }
    };
    let tab = move |lane: Lane| {
        view! {
            <button
                type="button"
                role="tab"
                class="lane-tab"
                id=format!("lane-tab-{}", lane.letter())
                aria-selected=move || (state.editing.get() == lane).to_string()
                on:click=move |_| state.editing.set(lane)
            >
                {format!("Setting {}", lane.letter())}
                <span class="lane-summary">
                    {move || {
                        state.lane(lane).method.track();
                        state.lane(lane).alphas.track();
                        methods::summary(&state, lane)
                    }}
                </span>
            </button>
        }
    };
    view! {
        <section class="settings methods" aria-label="Decoding method">
            <label class="check switch">
                <input
                    id="compare"
                    type="checkbox"
                    prop:checked=move || state.compare.get()
                    disabled=move || state.busy()
                    on:change=move |ev| toggle(event_target_checked(&ev))
                />
                <span>"Compare two settings side by side"</span>
            </label>
            <Show when=move || state.compare.get()>
                <div class="lane-tabs" role="tablist" aria-label="Setting being edited">
                    {tab(Lane::A)}
                    {tab(Lane::B)}
                </div>
            </Show>
            {move || {
                let lane = state.editing.get();
                view! { <LaneEditor lane=lane /> }
            }}
        </section>
    }
}

#[component]
fn LaneEditor(lane: Lane) -> impl IntoView {
    let state = expect_context::<AppState>();
    let s = state.lane(lane);
    let p = prefix(lane);
    let busy = move || state.busy();
    let has_adapters = move || state.adapters.with(|a| !a.is_empty());
    let options = Method::ALL
        .iter()
        .map(|&method| {
            let (name, help) = (method.info().label, method.info().help);
            let id = format!("{p}method-{}", method.name());
            let for_id = id.clone();
            let soups = adapters_only(method);
            view! {
                <label class="method-option" class:disabled=move || soups && !has_adapters() for=for_id title=help>
                    <input
                        type="radio"
                        name=format!("{p}method")
                        id=id
                        value=method.name()
                        disabled=move || (soups && !has_adapters()) || busy()
                        prop:checked=move || s.method.get() == method
                        on:change=move |_| s.method.set(method)
                    />
                    <span class="method-name">{name}</span>
                </label>
            }
        })
        .collect_view();
    let persona_card = move || {
        let p = personas().get(state.settings.persona.get())?;
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
    let method = move || s.method.get();
    view! {
        <div class="lane-editor" data-lane=lane.letter()>
            <fieldset class="method-list">
                <legend>"Method"</legend>
                <div class="method-grid">{options}</div>
                <p class="help method-help" id=format!("{p}method-help")>
                    {move || methods::help(method())}
                </p>
                <p class="help method-samples" data-testid="method-samples">
                    "Samples: "
                    {move || method().info().samples}
                </p>
            </fieldset>
            <Show when=move || uses_persona(method())>
                <div class="field">
                    <label for=format!("{p}persona")>"Persona"</label>
                    <select
                        id=format!("{p}persona")
                        on:change=move |ev| {
                            if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                                state.settings.persona.set(i);
                                for l in state.lanes {
                                    l.pdd_weights.set(None);
                                }
                            }
                        }
                    >
                        {personas()
                            .iter()
                            .enumerate()
                            .map(|(i, p)| {
                                view! {
                                    <option value=i.to_string() selected=move || state.settings.persona.get() == i>
                                        {p.name.clone()}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    {persona_card}
                </div>
            </Show>
            <Show when=move || uses_experts(method())>
                <AlphaSliders lane=lane />
            </Show>
            <Knobs s=s lane=lane />
            <Show when=move || !method().info().plain_chat>
                <p class="help note">
                    "Steered runs see the whole conversation and build their own system prompts (persona, experts); the system prompt below is for Base. Hover or focus a token for its rewards."
                </p>
            </Show>
        </div>
    }
}

#[component]
fn AlphaSliders(lane: Lane) -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let s = state.lane(lane);
    let p = prefix(lane);
    let slider = move |i: usize, name: String, title: String, aria: String, adapter: bool| {
        let id = format!("{p}alpha-{name}");
        let for_id = id.clone();
        let value = move || s.alphas.with(|a| a.get(i).copied().unwrap_or(0.0));
        // Names longer than a pole letter (role-play poles, adapters) take a
        // whole row with a wider label.
        let wide = adapter || name.chars().count() > 2;
        view! {
            <div class="alpha" class:adapter=adapter class:wide=wide data-expert=name.clone()>
                <label for=for_id title=title>{name.clone()}</label>
                <input
                    type="range"
                    id=id
                    min="-1"
                    max="1"
                    step="0.1"
                    aria-label=aria
                    prop:value=move || format!("{:.1}", value())
                    on:input=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                            s.alphas.update(|a| {
                                if let Some(x) = a.get_mut(i) {
                                    *x = (v * 10.0).round() / 10.0;
                                }
                            });
                            rerun::schedule(state, clients, lane);
                        }
                    }
                />
                <output class="alpha-value" data-sign=move || {
                    let v = value();
                    if v > 0.0 { "pos" } else if v < 0.0 { "neg" } else { "zero" }
                }>{move || signed(value())}</output>
            </div>
        }
    };
    let soups = move || adapters_only(s.method.get());
    let prompt_sliders = move || {
        (!soups()).then(|| {
            experts()
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    slider(
                        i,
                        e.name.clone(),
                        e.prompt.clone(),
                        format!("α for expert {} (axis {})", e.name, e.axis),
                        false,
                    )
                })
                .collect_view()
        })
    };
    let adapter_sliders = move || {
        let n = experts().len();
        state.adapters.with(|a| {
            a.iter()
                .enumerate()
                .map(|(j, a)| {
                    slider(
                        n + j,
                        a.name.clone(),
                        format!("LoRA adapter {} (rank {})", a.name, a.rank),
                        format!("α for adapter {}", a.name),
                        true,
                    )
                })
                .collect_view()
        })
    };
    view! {
        <div class="field">
            <p class="label">"Expert weights α"</p>
            <p class="help">
                "Each expert writes like one MBTI pole (or is a LoRA adapter). α > 0 pulls the answer toward it, α < 0 pushes away, 0 leaves it out. Moving a slider re-runs the last answer with the same seed."
            </p>
            <div class="alphas">{prompt_sliders}{adapter_sliders}</div>
            <button
                type="button"
                class="button quiet small"
                on:click=move |_| {
                    let extra = s.alphas.with_untracked(|a| a.len()).saturating_sub(experts().len());
                    let mut a = methods::default_alphas();
                    a.extend(std::iter::repeat_n(0.0, extra));
                    s.alphas.set(a);
                }
            >
                "Reset weights"
            </button>
        </div>
    }
}

/// SCR's k and PDD's β and K for one lane.
#[component]
fn Knobs(s: MethodSettings, lane: Lane) -> impl IntoView {
    let p = prefix(lane);
    let has = move |knob: Knob| s.method.get().info().knobs.contains(&knob);
    view! {
        <Show when=move || has(Knob::ChunkSize) || has(Knob::Beta) || has(Knob::TopK)>
            <div class="grid knobs">
                <Show when=move || has(Knob::ChunkSize)>
                    <div class="field">
                        <label for=format!("{p}chunk-k")>"Chunk size k"</label>
                        <input id=format!("{p}chunk-k") type="number" inputmode="numeric" step="1" min="1" max="16" bind:value=s.k />
                    </div>
                    <div class="field">
                        <label class="check" title="T 1, top-p 1, no prefix salvage, a fixed conservative bound, rejected chunks proposed again: every chunk from the chunk-level MPG target while no test exceeds the bound (slow: most chunks are rejected)">
                            <input id=format!("{p}exact") type="checkbox" bind:checked=s.exact />
                            " Exact chunk-level target"
                        </label>
                    </div>
                </Show>
                <Show when=move || has(Knob::Beta)>
                    <div class="field">
                        <label for=format!("{p}beta")>"β (reward strength)"</label>
                        <input id=format!("{p}beta") type="number" inputmode="decimal" step="0.1" min="0.1" bind:value=s.beta />
                    </div>
                </Show>
                <Show when=move || has(Knob::TopK)>
                    <div class="field">
                        <label for=format!("{p}top-k")>"K (attributes used)"</label>
                        <input id=format!("{p}top-k") type="number" inputmode="numeric" step="1" min="1" max="16" bind:value=s.top_k />
                    </div>
                </Show>
            </div>
        </Show>
    }
}
