//! How a steered answer is drawn: each token tinted by its reward (a
//! diverging blue/orange scale with a legend), a tooltip on hover or focus
//! with the per-attribute or per-expert rewards and the top alternatives
//! (base vs steered probability), PDD's importance bars with override
//! sliders (moving one re-runs the answer with the same seed), SCR's chunk
//! strip, and the run's statistics with an export button.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::actions::rerun;
use super::client::Clients;
use super::format;
use super::methods;
use super::state::AppState;
use super::steer_trace::{Origin, SteerTrace, TokenInfo};
use super::trace_file;
use crate::steer::{Rewards, RunStats};

/// Largest |reward| of the answer so far (the colour scale's end), at least 0.5.
fn scale(tokens: &[TokenInfo]) -> f64 {
    tokens
        .iter()
        .filter_map(|t| t.reward)
        .filter(|r| r.is_finite())
        .fold(0.5, |m, r| m.max(r.abs()))
}

/// Background of a token with `reward` on a scale ending at ±`max`.
fn tint(reward: Option<f64>, max: f64) -> String {
    let Some(r) = reward.filter(|r| r.is_finite()) else {
        return String::new();
    };
    let t = (r / max).clamp(-1.0, 1.0);
    let alpha = 0.08 + 0.5 * t.abs();
    if t >= 0.0 {
        format!("background-color: rgb(47 111 219 / {alpha:.2})")
    } else {
        format!("background-color: rgb(230 120 20 / {alpha:.2})")
    }
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:+.2}")
    } else if x > 0.0 {
        "+∞".into()
    } else {
        "−∞".into()
    }
}

fn pct(p: f64) -> String {
    format!("{:.1}%", p * 100.0)
}

/// Shows a token's text so that spaces and line breaks can be seen.
fn visible(text: &str) -> String {
    if text.is_empty() {
        return "∅".into();
    }
    text.replace('\n', "↵").replace(' ', "·")
}

/// Names of the per-token rewards: the selected attributes (PDD) or the experts.
fn reward_labels(trace: &SteerTrace) -> Vec<String> {
    if trace.method().info().rewards == Rewards::PerAttribute {
        return trace.importance.with(|i| {
            i.as_ref()
                .map(|i| {
                    i.selected
                        .iter()
                        .map(|&s| attribute_name(&i.attributes[s]))
                        .collect()
                })
                .unwrap_or_default()
        });
    }
    trace.experts.clone()
}

fn attribute_name(line: &str) -> String {
    line.split_once(':')
        .map(|(n, _)| n.trim())
        .unwrap_or(line.trim())
        .to_string()
}

/// The tinted tokens of a steered answer (inside `.text`).
pub(crate) fn tokens_view(trace: SteerTrace) -> impl IntoView {
    let tokens = trace.tokens.clone();
    let max = Memo::new(move |_| tokens.with(|t| scale(t)));
    let hover = trace.hover.clone();
    let each = trace.tokens.clone();
    view! {
        <For each=move || each.get() key=|t| t.index let(tok)>
            {
                let reward = tok.reward;
                let index = tok.index;
                let (h1, h2, h3, h4) = (hover.clone(), hover.clone(), hover.clone(), hover.clone());
                let open = move |el: Option<web_sys::HtmlElement>, h: &ArcRwSignal<Option<(usize, f64, f64)>>| {
                    if let Some(el) = el {
                        let left = el.offset_left() as f64;
                        let top = el.offset_top() as f64;
                        h.set(Some((index, left, top)));
                    }
                };
                view! {
                    <span
                        class="tok"
                        tabindex="0"
                        data-index=index
                        data-reward=reward.map(|r| format!("{r:.4}"))
                        style=move || tint(reward, max.get())
                        on:mouseenter=move |ev| open(ev.target().and_then(|t| t.dyn_into().ok()), &h1)
                        on:focus=move |ev| open(ev.target().and_then(|t| t.dyn_into().ok()), &h2)
                        on:mouseleave=move |_| h3.set(None)
                        on:blur=move |_| h4.set(None)
                    >
                        {tok.text.clone()}
                    </span>
                }
            }
        </For>
    }
}

/// The tooltip of the token under the pointer or focus (one per answer).
pub(crate) fn tooltip_view(trace: SteerTrace) -> impl IntoView {
    let t2 = trace.clone();
    move || {
        let (index, left, top) = trace.hover.get()?;
        let tok = trace
            .tokens
            .with(|v| v.iter().find(|t| t.index == index).cloned())?;
        let labels = reward_labels(&t2);
        let rewards_kind = trace.method().info().rewards;
        let rewards = tok
            .rewards
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let name = labels.get(i).cloned().unwrap_or_else(|| format!("#{i}"));
                let sign = if *r > 0.0 {
                    "pos"
                } else if *r < 0.0 {
                    "neg"
                } else {
                    "zero"
                };
                view! {
                    <tr>
                        <th scope="row">{name}</th>
                        <td class="num" data-sign=sign>{num(*r)}</td>
                    </tr>
                }
            })
            .collect_view();
        let top_rows = tok
            .top
            .iter()
            .take(5)
            .map(|a| {
                let chosen = a.text == tok.text;
                view! {
                    <tr class:chosen=chosen>
                        <th scope="row"><code>{visible(&a.text)}</code></th>
                        <td class="num">{pct(a.base_p)}</td>
                        <td class="num">{pct(a.steered_p)}</td>
                    </tr>
                }
            })
            .collect_view();
        let has_rewards = !tok.rewards.is_empty();
        let has_top = !tok.top.is_empty();
        let left = left.max(0.0);
        Some(view! {
            <div
                class="tooltip"
                role="tooltip"
                style=format!("left: min({left:.0}px, calc(100% - 300px)); bottom: calc(100% - {:.0}px)", top - 4.0)
            >
                <p class="tip-head">
                    <code>{visible(&tok.text)}</code>
                    {tok.reward.map(|r| format!(" · reward {}", num(r)))}
                    {tok.chunk.map(|c| format!(" · chunk {c}"))}
                </p>
                {has_rewards.then(|| view! {
                    <table class="tip-table">
                        <caption>{match rewards_kind { Rewards::ExpertLogProb => "log p per expert", Rewards::PerAttribute => "reward per attribute", _ => "log-ratio per expert (vs reference)" }}</caption>
                        <tbody>{rewards}</tbody>
                    </table>
                })}
                {has_top.then(|| view! {
                    <table class="tip-table">
                        <caption>"top alternatives"</caption>
                        <thead><tr><th></th><th>"base"</th><th>"steered"</th></tr></thead>
                        <tbody>{top_rows}</tbody>
                    </table>
                })}
            </div>
        })
    }
}

/// The reward colour legend.
pub(crate) fn legend_view(trace: SteerTrace) -> impl IntoView {
    let tokens = trace.tokens.clone();
    let toward = match trace.method().info().rewards {
        Rewards::PerAttribute => "toward the persona",
        _ => "toward the α-weighted experts",
    };
    move || {
        let max = tokens.with(|t| t.iter().any(|t| t.reward.is_some()).then(|| scale(t)))?;
        Some(view! {
            <div class="legend" aria-label="Reward colour scale">
                <span>{format!("−{max:.1}")}</span>
                <span class="legend-bar" aria-hidden="true"></span>
                <span>{format!("+{max:.1}")}</span>
                <span class="legend-words">{format!("token reward: orange away, blue {toward}")}</span>
            </div>
        })
    }
}

/// PDD: importance of each attribute, the selected top-K highlighted; on
/// the newest live answer a slider per attribute overrides its weight.
pub(crate) fn importance_view(trace: SteerTrace, turn_id: u64) -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let lane = trace.lane;
    let live = trace.origin == Origin::Live;
    let editable = move || {
        live && state
            .turns
            .with(|t| t.last().map(|l| l.id) == Some(turn_id))
    };
    let weights = state.lane(lane).pdd_weights;
    move || {
        let imp = trace.importance.get()?;
        let max = imp
            .weights
            .iter()
            .fold(0.0f64, |m, w| m.max(w.abs()))
            .max(1e-9);
        let overridden = trace.config.pdd.weights.is_some();
        let rows = imp
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let w = imp.weights.get(i).copied().unwrap_or(0.0);
                let raw = imp.raw.get(i).copied().unwrap_or(0.0);
                let rank = imp.selected.iter().position(|&s| s == i);
                let width = (w.abs() / max * 100.0).clamp(0.0, 100.0);
                let name = attribute_name(a);
                let current = imp.weights.clone();
                let slider = editable().then(|| {
                    view! {
                        <input
                            type="range"
                            class="imp-slider"
                            min="-1"
                            max="1"
                            step="0.05"
                            aria-label=format!("weight of {name}")
                            prop:value=format!("{w:.2}")
                            on:input=move |ev| {
                                if let Ok(v) = event_target_value(&ev).parse::<f64>() {
                                    let mut next = weights.get_untracked().unwrap_or_else(|| current.clone());
                                    if let Some(x) = next.get_mut(i) {
                                        *x = (v * 100.0).round() / 100.0;
                                    }
                                    weights.set(Some(next));
                                    rerun::schedule(state, clients, lane);
                                }
                            }
                        />
                    }
                });
                view! {
                    <li class="imp-row" class:selected=rank.is_some() data-selected=rank.is_some().to_string() title=a.clone()>
                        <span class="imp-name">{name.clone()}</span>
                        <span class="imp-track">
                            <span class="imp-bar" class:neg=w < 0.0 style=format!("width: {width:.1}%")></span>
                        </span>
                        <span class="imp-num">{format!("{w:.2}")}</span>
                        {slider}
                        <span class="imp-raw">{format!("{raw:+.2} nats")}</span>
                    </li>
                }
            })
            .collect_view();
        let reset = (overridden && editable()).then(|| {
            view! {
                <button
                    type="button"
                    class="button quiet small"
                    on:click=move |_| {
                        weights.set(None);
                        rerun::schedule(state, clients, lane);
                    }
                >
                    "Use PIE's weights"
                </button>
            }
        });
        let words = if overridden {
            "your weights (sliders); PIE's measurement in nats".to_string()
        } else {
            format!("top {} used, highlighted", imp.selected.len())
        };
        Some(view! {
            <div class="importance" data-override=overridden.to_string()>
                <p class="panel-title">
                    "Attribute importance (PIE) · "
                    <span class="help">{words}</span>
                    {reset}
                </p>
                <ol class="imp-list" class:editable=editable>{rows}</ol>
            </div>
        })
    }
}

/// SCR: one box per chunk: accepted tokens, the rejected tail, fallback tokens.
pub(crate) fn chunks_view(trace: SteerTrace) -> impl IntoView {
    let chunks = trace.chunks.clone();
    let tokens = trace.tokens.clone();
    move || {
        let list = chunks.get();
        if list.is_empty() {
            return None;
        }
        let log_m = list.last().map(|c| c.log_m).unwrap_or(0.0);
        let items = list
            .into_iter()
            .map(|c| {
                let emitted: Vec<String> = tokens.with(|t| {
                    t.iter()
                        .filter(|t| t.chunk == Some(c.index))
                        .map(|t| t.text.clone())
                        .collect()
                });
                let fallback: Vec<String> = emitted.into_iter().skip(c.accepted).collect();
                let acc = c.texts[..c.accepted.min(c.texts.len())]
                    .iter()
                    .map(|t| view! { <span class="ck acc">{visible(t)}</span> })
                    .collect_view();
                let rej = c.texts[c.accepted.min(c.texts.len())..]
                    .iter()
                    .map(|t| view! { <span class="ck rej">{visible(t)}</span> })
                    .collect_view();
                let fb = fallback
                    .iter()
                    .map(|t| {
                        view! { <span class="ck fb" title=if c.forced { "forced fallback token" } else { "RS-1 fallback token" }>{visible(t)}</span> }
                    })
                    .collect_view();
                view! {
                    <li class="chunk" data-accepted=c.accepted data-fallback=c.fallback.to_string()>
                        {acc}{rej}{fb}
                    </li>
                }
            })
            .collect_view();
        Some(view! {
            <div class="chunks">
                <p class="panel-title">
                    "Chunks · "
                    <span class="help chunk-key">
                        <span class="ck acc">"accepted"</span>
                        <span class="ck rej">"rejected"</span>
                        <span class="ck fb">"fallback"</span>
                    </span>
                    <span class="log-m">{format!("log M = {log_m:.2}")}</span>
                </p>
                <ol class="chunk-strip">{items}</ol>
            </div>
        })
    }
}

/// The stats line under a steered answer: live while streaming, then final
/// (decode-only and overall speed, model evaluations and batched calls per
/// token, rejection rate, backend) with an export button.
pub(crate) fn stats_view(trace: SteerTrace) -> impl IntoView {
    let state = expect_context::<AppState>();
    let backend = trace.backend.clone();
    let method = methods::label(trace.method());
    move || {
        if trace.streaming.get() {
            let n = trace.tokens.with(Vec::len);
            let rate = trace.first_ms.get().and_then(|t0| {
                let dt = js_sys::Date::now() - t0;
                (n > 1 && dt > 0.0).then(|| (n - 1) as f64 * 1000.0 / dt)
            });
            let log_m = trace.chunks.with(|c| c.last().map(|c| c.log_m));
            let mut words = format!("{method} · writing");
            if let Some(r) = rate {
                words.push_str(&format!(" · {} decode", format::rate(r)));
            }
            if let Some(m) = log_m {
                words.push_str(&format!(" · log M {m:.2}"));
            }
            return view! {
                <p class="meta live" data-tps=rate.map(|r| format!("{r:.2}"))>
                    <span class="dot" aria-hidden="true"></span>
                    {words}
                </p>
            }
            .into_any();
        }
        let Some(s) = trace.stats.get() else {
            return ().into_any();
        };
        let source = match &trace.origin {
            Origin::Live => backend.get().unwrap_or_default(),
            Origin::File(name) => format!("replayed from {name}"),
        };
        let t = trace.clone();
        let export = move |_| {
            if let Err(e) = trace_file::export(&t) {
                state.show_error("trace_file", &e);
            }
        };
        view! {
            <div class="stats-row">
                {final_stats(method, &s, trace.decode_rate(), &source)}
                <button type="button" class="button quiet small export" on:click=export>
                    "Export trace"
                </button>
            </div>
        }
        .into_any()
    }
}

fn final_stats(method: &str, s: &RunStats, decode: Option<f64>, source: &str) -> impl IntoView {
    let mut parts = vec![method.to_string(), format!("{} tokens", s.tokens)];
    if let Some(d) = decode {
        parts.push(format!("{} decode", format::rate(d)));
    }
    parts.push(format!("{} overall", format::rate(s.tokens_per_second)));
    parts.push(format!("{:.2} row-calls/token", s.evaluations_per_token));
    parts.push(format!(
        "{:.2} token evaluations/token",
        s.token_evaluations_per_token
    ));
    parts.push(format!("{:.2} calls/token", s.forward_calls_per_token));
    if s.proposed > 0 {
        parts.push(format!("rejection {:.0}%", s.rejection_rate * 100.0));
    }
    if s.bound_tests > 0 {
        parts.push(format!(
            "bound violations {} of {} tests",
            s.bound_violations, s.bound_tests
        ));
    }
    parts.push(format!(
        "prefill: {} new positions, {} cached",
        s.prefill_positions, s.cached_positions
    ));
    parts.push(format!("first token {}", format::duration_ms(s.ttft_ms)));
    if s.reused_importance {
        parts.push("importance reused".into());
    }
    if let Some(note) = &s.cache_note {
        parts.push(note.clone());
    }
    if !source.is_empty() {
        parts.push(source.to_string());
    }
    parts.push(s.stop_reason.words().to_string());
    view! {
        <p
            class="meta steer-stats"
            data-tps=format!("{:.2}", s.tokens_per_second)
            data-decode-tps=decode.map(|d| format!("{d:.2}"))
            data-stop=s.stop_reason.code()
            data-rejection=format!("{:.4}", s.rejection_rate)
            data-evals=format!("{:.3}", s.evaluations_per_token)
            data-calls=format!("{:.3}", s.forward_calls_per_token)
            data-violations=(s.bound_tests > 0).then(|| s.bound_violations.to_string())
            data-prefill=s.prefill_positions
            data-cached=s.cached_positions
            data-ttft=format!("{:.1}", s.ttft_ms)
            data-reused-importance=s.reused_importance.then_some("true")
        >
            {parts.join(" · ")}
        </p>
    }
}
