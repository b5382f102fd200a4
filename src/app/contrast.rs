//! The pole contrast (issue "Steering you can see", point 4): one question
//! answered three times with one expert at α = −1, 0 and +1 (every other
//! expert off; α = 0 is the plain model; MOD gives the plain model the
//! rest of the weight, `RunConfig::single_expert`), side by side, each with its probe
//! bar on the expert's MBTI axis (`crate::steer::probe`), so the effect of
//! steering — both ways — is visible at a glance. The controls sit in the
//! side panel (`ContrastPanel`), the three answers above the message box
//! (`ContrastView`); the worker runs them in turn (`worker::contrast_run`).

use leptos::prelude::*;

use super::actions::cancel;
use super::client::Clients;
use super::methods;
use super::probe::{probe_row, DEFAULT_PER_AXIS};
use super::state::{AppState, ContrastColumn, ContrastState, GenStatus, Lane, Role};
use crate::page_data::protocol::ErrorKind;
use crate::steer::{ExpertKind, RunConfig};
use crate::worker::protocol::{Command, ContrastRequest};

/// The weights of the three columns.
pub(crate) const ALPHAS: [f64; 3] = [-1.0, 0.0, 1.0];

/// The MBTI axes the shipped probe items cover.
const PROBE_AXES: [&str; 4] = ["E-I", "S-N", "T-F", "J-P"];

/// The axis an expert moves, if the probe has items for it: a prompt
/// expert's own axis, or an adapter named after one (the shipped "E-I").
pub(crate) fn probe_axis(name: &str) -> Option<String> {
    if let Some(e) = methods::experts().iter().find(|e| e.name == name) {
        return Some(e.axis.clone()).filter(|a| PROBE_AXES.contains(&a.as_str()));
    }
    PROBE_AXES
        .iter()
        .find(|a| name.eq_ignore_ascii_case(a))
        .map(|a| a.to_string())
}

/// The question: the message box's text, else the last question asked.
fn question(state: &AppState) -> Option<String> {
    let draft = state.draft.get_untracked();
    if !draft.trim().is_empty() {
        return Some(draft);
    }
    state.turns.with_untracked(|turns| {
        turns
            .iter()
            .rev()
            .find(|t| t.role == Role::User)
            .map(|t| t.text.get_untracked())
    })
}

/// Lane A's setting with expert `index` alone at each α of [`ALPHAS`] (the
/// plain model at α = 0), each checked as the engine checks it.
pub(crate) fn configs(
    state: &AppState,
    index: usize,
    user: &str,
) -> Result<Vec<RunConfig>, String> {
    let (base, _) = methods::run_config(state, Lane::A, Vec::new(), user)?;
    let method = base.method;
    if !methods::uses_experts(method) {
        return Err(format!(
            "the pole contrast moves one expert's α, and {} has none: pick SCR, MOD, Token-RS, Seq-RS, Best-of-N or Soups",
            methods::label(method)
        ));
    }
    let all = methods::weighted_experts(state, Lane::A);
    let Some(expert) = all.get(index) else {
        return Err("choose an expert for the contrast".into());
    };
    if methods::adapters_only(method) && !matches!(expert.kind, ExpertKind::Adapter { .. }) {
        return Err(format!(
            "{} weights LoRA adapters only: choose an adapter for the contrast",
            methods::label(method)
        ));
    }
    ALPHAS
        .iter()
        .map(|&alpha| {
            let mut e = expert.clone();
            e.alpha = alpha;
            let cfg = base.single_expert(e);
            cfg.validate().map_err(|e| e.to_string())?;
            Ok(cfg)
        })
        .collect()
}

fn start(state: AppState, clients: Clients, index: usize) {
    let Some(user) = question(&state) else {
        return state.show_error(
            ErrorKind::InvalidSettings,
            "type a question in the message box for the pole contrast",
        );
    };
    let configs = match configs(&state, index, &user) {
        Ok(c) => c,
        Err(message) => return state.show_error(ErrorKind::InvalidSettings, &message),
    };
    let expert = methods::weighted_experts(&state, Lane::A)[index]
        .name
        .clone();
    let axis = probe_axis(&expert);
    state.banner.set(None);
    state.contrast.set(ContrastState {
        running: true,
        cancelled: false,
        question: user,
        expert,
        axis: axis.clone(),
        columns: ALPHAS
            .iter()
            .zip(&configs)
            .map(|(&alpha, cfg)| ContrastColumn {
                alpha,
                label: methods::config_summary(cfg),
                ..ContrastColumn::default()
            })
            .collect(),
    });
    state.gen(Lane::A).set(GenStatus::Job);
    clients.a.send(&Command::Contrast(ContrastRequest {
        configs,
        axis,
        per_axis: DEFAULT_PER_AXIS,
    }));
}

/// The side panel's controls.
#[component]
pub(crate) fn ContrastPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let names = move || {
        let mut names: Vec<String> = methods::experts().iter().map(|e| e.name.clone()).collect();
        state
            .adapters
            .with(|a| names.extend(a.iter().map(|a| a.name.clone())));
        names
    };
    // The first adapter once one is loaded, else the first pole prompt.
    let chosen = RwSignal::new(None::<usize>);
    let index = move || {
        chosen.get().unwrap_or_else(|| {
            state.adapters.with(|a| {
                if a.is_empty() {
                    0
                } else {
                    methods::experts().len()
                }
            })
        })
    };
    let running = move || state.contrast.with(|c| c.running);
    let blocked = move || state.busy() || !state.load(Lane::A).get().is_ready();
    view! {
        <section class="settings contrast-panel" aria-label="Pole contrast">
            <p class="label">"Pole contrast"</p>
            <p class="help">
                "Answers the question in the message box (or your last one) with one expert at α = −1, 0 and +1, the others off, side by side, each with its probe bar."
            </p>
            <div class="probe-actions">
                <label class="probe-items">
                    "Expert "
                    <select
                        id="contrast-expert"
                        aria-label="Expert to contrast"
                        on:change=move |ev| {
                            if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                                chosen.set(Some(i));
                            }
                        }
                    >
                        {move || {
                            names()
                                .into_iter()
                                .enumerate()
                                .map(|(i, name)| view! {
                                    <option value=i.to_string() selected=move || index() == i>{name}</option>
                                })
                                .collect_view()
                        }}
                    </select>
                </label>
                <Show
                    when=running
                    fallback=move || view! {
                        <button
                            type="button"
                            class="button small"
                            id="contrast-run"
                            disabled=blocked
                            on:click=move |_| start(state, clients, index())
                        >
                            "Run contrast"
                        </button>
                    }
                >
                    <button type="button" class="button small danger" id="contrast-cancel" on:click=move |_| cancel(state, clients, Lane::A)>
                        "Cancel contrast"
                    </button>
                </Show>
            </div>
        </section>
    }
}

/// The three answers, above the message box.
#[component]
pub(crate) fn ContrastView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let shown = move || state.contrast.with(|c| !c.columns.is_empty());
    let close = move |_| {
        if !state.contrast.with_untracked(|c| c.running) {
            state.contrast.set(ContrastState::default());
        }
    };
    let columns = move || {
        let c = state.contrast.get();
        c.columns
            .iter()
            .map(|col| column(col, c.running))
            .collect_view()
    };
    let head = move || {
        let c = state.contrast.get();
        let status = if c.running {
            " · writing…"
        } else if c.cancelled {
            " · cancelled"
        } else {
            ""
        };
        format!("Pole contrast · {} at α = −1, 0, +1{status}", c.expert)
    };
    view! {
        <Show when=shown>
            <section class="contrast" aria-label="Pole contrast" data-testid="contrast">
                <div class="contrast-head">
                    <p class="label">{head}</p>
                    <button
                        type="button"
                        class="button quiet small"
                        disabled=move || state.contrast.with(|c| c.running)
                        on:click=close
                    >
                        "Close"
                    </button>
                </div>
                <p class="contrast-question">{move || state.contrast.with(|c| format!("“{}”", c.question))}</p>
                <div class="contrast-grid">{columns}</div>
            </section>
        </Show>
    }
}

fn column(col: &ContrastColumn, running: bool) -> impl IntoView {
    let alpha = match col.alpha {
        a if a > 0.0 => format!("α = +{a:.0}"),
        a if a < 0.0 => format!("α = −{:.0}", -a),
        _ => "α = 0 (plain model)".to_string(),
    };
    let text = if col.text.is_empty() && running && !col.answered {
        "…".to_string()
    } else {
        col.text.clone()
    };
    let bar = match (&col.score, &col.note) {
        (Some(score), note) => view! {
            <ol class="probe-list">{probe_row(score)}</ol>
            <p class="help">{note.clone().unwrap_or_default()}</p>
        }
        .into_any(),
        (None, Some(note)) => view! { <p class="help">{note.clone()}</p> }.into_any(),
        (None, None) if col.answered && running => {
            view! { <p class="help">"probing…"</p> }.into_any()
        }
        _ => ().into_any(),
    };
    view! {
        <article
            class="contrast-col"
            data-alpha=format!("{}", col.alpha)
            data-answered=col.answered.to_string()
            data-probed=col.probed.to_string()
        >
            <p class="contrast-alpha">{alpha}</p>
            <p class="contrast-label">{col.label.clone()}</p>
            <p class="contrast-text">{text}</p>
            {bar}
        </article>
    }
}
