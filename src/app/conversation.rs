//! The conversation: user and assistant turns in order, the answer in
//! progress growing token by token (announced politely to screen readers
//! once it settles), and each answer's speed and stop reason underneath.

use leptos::prelude::*;

use super::format;
use super::methods;
use super::scroll::{on_log_scroll, LOG_ID};
use super::state::{AnswerStats, AppState, GenStatus, Lane, LoadStatus, Role, Turn};
use super::steer_trace::{Origin, SteerTrace};
use super::trace;

#[component]
pub(crate) fn Conversation() -> impl IntoView {
    let state = expect_context::<AppState>();
    let empty = move || state.turns.with(|t| t.is_empty());
    let device = move || {
        if state.load(Lane::A).with(LoadStatus::on_gpu) {
            "on your GPU (WebGPU)"
        } else {
            "on your CPU"
        }
    };
    view! {
        <section id=LOG_ID class="log" aria-label="Conversation" tabindex="0" on:scroll=move |_| on_log_scroll()>
            <Show when=empty>
                <div class="empty">
                    <p class="empty-title">"Ask SmolLM2 anything."</p>
                    <p>
                        "The model runs entirely in this tab, "
                        {device}
                        ". "
                        "Answers are greedy (the same every time) unless you change it under "
                        "“Advanced settings”."
                    </p>
                </div>
            </Show>
            <ol class="turns">
                <For each=move || state.turns.get() key=|turn| turn.id let(turn)>
                    <TurnView turn=turn />
                </For>
            </ol>
        </section>
    }
}

#[component]
fn TurnView(turn: Turn) -> impl IntoView {
    let state = expect_context::<AppState>();
    let role = turn.role;
    let text = turn.text.clone();
    let streaming = turn.streaming.clone();
    let stats = turn.stats.clone();
    let live = turn.live_tps.clone();
    let label = match role {
        Role::User => "You",
        Role::Assistant => "SmolLM2",
        Role::System => "System",
    };
    let body = {
        let text = text.clone();
        let streaming = streaming.clone();
        move || {
            let t = text.get();
            if t.is_empty() && streaming.get() {
                None
            } else {
                Some(t)
            }
        }
    };
    let pending = {
        let text = text.clone();
        let streaming = streaming.clone();
        move || {
            if !(streaming.get() && text.with(|t| t.is_empty())) {
                return None;
            }
            let what = match state.gen(Lane::A).get() {
                GenStatus::Prefill {
                    prompt_tokens: Some(n),
                } => format!("Reading the prompt ({n} tokens)…"),
                GenStatus::Cancelling => "Stopping…".to_string(),
                _ => "Thinking…".to_string(),
            };
            Some(view! { <span class="pending">{what}</span> })
        }
    };
    let meta = {
        let streaming = streaming.clone();
        move || {
            if role == Role::User {
                return None;
            }
            if streaming.get() {
                let tps = live.get();
                return Some(
                    view! {
                        <p class="meta live" data-tps=tps.map(|r| format!("{r:.2}"))>
                            <span class="dot" aria-hidden="true"></span>
                            {match tps {
                                Some(r) => format!("Writing · {}", format::rate(r)),
                                None => "Writing…".to_string(),
                            }}
                        </p>
                    }
                    .into_any(),
                );
            }
            stats.get().map(|s| stats_view(&s).into_any())
        }
    };
    let streaming_attr = streaming.clone();
    if let Some(steer) = turn.steer.clone() {
        let method = steer.method().name();
        let compare = turn.compare.clone();
        let label = match (&compare, &steer.origin) {
            (Some(_), _) => "SmolLM2 · compare".to_string(),
            (None, Origin::File(_)) => {
                format!("SmolLM2 · {} · replay", methods::label(steer.method()))
            }
            (None, Origin::Live) => format!("SmolLM2 · {}", methods::label(steer.method())),
        };
        let columns = match compare {
            Some(b) => view! {
                <div class="compare-grid">
                    {steered_column(steer, turn.id, true)}
                    {steered_column(b, turn.id, true)}
                </div>
            }
            .into_any(),
            None => steered_column(steer, turn.id, false).into_any(),
        };
        return view! {
            <li
                class="turn assistant steered"
                class:compared=turn.compare.is_some()
                data-role=role.name()
                data-method=method
                data-state=move || if streaming_attr.get() { "streaming" } else { "done" }
            >
                <p class="who">{label}</p>
                {columns}
            </li>
        }
        .into_any();
    }
    view! {
        <li
            class=format!("turn {}", role.name())
            data-role=role.name()
            data-state=move || if streaming_attr.get() { "streaming" } else { "done" }
        >
            <p class="who">{label}</p>
            <div
                class="bubble"
                aria-live=if role == Role::Assistant { Some("polite") } else { None }
                aria-busy=move || if streaming.get() { "true" } else { "false" }
            >
                {pending}
                <span class="text">{body}</span>
            </div>
            {meta}
        </li>
    }
    .into_any()
}

fn stats_view(s: &AnswerStats) -> impl IntoView {
    let text = format!(
        "{} tokens · {} · prompt {} tokens ({} cached), prefill at {} · {} · {}",
        s.tokens,
        format::rate(s.tokens_per_second),
        s.prompt_tokens,
        s.cached_positions,
        format::rate(s.prefill_tokens_per_second),
        s.backend,
        s.stop.words()
    );
    view! {
        <p
            class="meta"
            data-tps=format!("{:.2}", s.tokens_per_second)
            data-stop=s.stop.code()
            data-backend=s.backend.clone()
            data-cached=s.cached_positions
        >
            {text}
        </p>
    }
}

/// One steered answer: importance bars, tinted tokens with their tooltip,
/// the colour legend, the chunk strip and the statistics. In compare mode
/// each column is headed by its setting.
fn steered_column(trace: SteerTrace, turn_id: u64, headed: bool) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lane = trace.lane;
    let streaming = trace.streaming.clone();
    let waiting = {
        let streaming = trace.streaming.clone();
        let tokens = trace.tokens.clone();
        let importance = trace.importance.clone();
        let pdd = trace.method().info().importance;
        move || {
            if !(streaming.get() && tokens.with(Vec::is_empty)) {
                return None;
            }
            let what = match state.gen(lane).get() {
                GenStatus::Prefill {
                    prompt_tokens: Some(n),
                } => format!("Reading the prompt ({n} tokens)…"),
                GenStatus::Cancelling => "Stopping…".to_string(),
                _ if pdd && importance.with(Option::is_none) => {
                    "Measuring attribute importance (PIE)…".to_string()
                }
                _ => "Thinking…".to_string(),
            };
            Some(view! { <span class="pending">{what}</span> })
        }
    };
    let method = trace.method().name();
    let busy_streaming = trace.streaming.clone();
    let head = headed.then(|| {
        let words = format!(
            "{} · {}",
            lane.letter(),
            methods::config_summary(&trace.config)
        );
        view! { <p class="lane-head" data-lane=lane.letter()>{words}</p> }
    });
    view! {
        <div
            class="steered-answer"
            data-lane=lane.letter()
            data-method=method
            data-state=move || if streaming.get() { "streaming" } else { "done" }
        >
            {head}
            {trace::importance_view(trace.clone(), turn_id)}
            <div
                class="bubble"
                aria-live="polite"
                aria-busy=move || if busy_streaming.get() { "true" } else { "false" }
            >
                {waiting}
                <span class="text">{trace::tokens_view(trace.clone())}</span>
                {trace::tooltip_view(trace.clone())}
            </div>
            {trace::legend_view(trace.clone())}
            {trace::chunks_view(trace.clone())}
            {trace::stats_view(trace)}
        </div>
    }
}
