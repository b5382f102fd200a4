//! The axis probe panel: how the edited lane's method and α score on the
//! MBTI probe items (`crate::steer::probe`, the first few shipped items of
//! each axis), one bar per axis — the share of items whose first-pole
//! completion is the more likely, drawn from the middle toward the pole it
//! favours — with progress and Cancel, so α can be tuned live.

use leptos::prelude::*;

use super::actions::cancel;
use super::client::Clients;
use super::methods;
use super::state::{AppState, GenStatus, Lane, ProbeState};
use crate::page_data::protocol::ErrorKind;
use crate::steer::probe::AxisScore;
use crate::steer::Probe;
use crate::worker::protocol::{Command, ProbeRequest};

/// Items per axis the panel offers (the shipped set has 48); 8 by default.
pub(crate) const PER_AXIS: [usize; 5] = [2, 4, 8, 16, 48];
pub(crate) const DEFAULT_PER_AXIS: usize = 8;

fn start(state: AppState, clients: Clients, per_axis: usize) {
    let lane = state.editing.get_untracked();
    let (config, _) = match methods::run_config(&state, lane, Vec::new(), "probe") {
        Ok(v) => v,
        Err(message) => return state.show_error(ErrorKind::InvalidSettings, &message),
    };
    if let Err(e) = config.validate() {
        return state.show_error(ErrorKind::from(&e), &e.to_string());
    }
    let info = config.method.info();
    if let Probe::Unavailable(why) = info.probe {
        let message = format!("the probe cannot score {}: {why}", info.label);
        return state.show_error("invalid_settings", &message);
    }
    state.banner.set(None);
    let label = match info.probe {
        Probe::Proxy(why) => format!("{} — {why}", methods::summary(&state, lane)),
        _ => methods::summary(&state, lane),
    };
    state.probe.set(ProbeState {
        running: true,
        total: 4 * per_axis,
        label,
        ..ProbeState::default()
    });
    state.gen(Lane::A).set(GenStatus::Job);
    clients
        .a
        .send(&Command::Probe(ProbeRequest { config, per_axis }));
}

/// One axis's bar: the share of items whose first-pole completion is the
/// more likely, drawn from the middle toward the pole it favours.
pub(crate) fn probe_row(a: &AxisScore) -> impl IntoView {
    let (first, second) = a.axis.split_once('-').unwrap_or((&a.axis, ""));
    let share = a.accuracy.clamp(0.0, 1.0);
    // From the middle toward the favoured pole (first pole left).
    let (left, width) = if share >= 0.5 {
        ((1.0 - share) * 100.0, (share - 0.5) * 100.0)
    } else {
        (50.0, (0.5 - share) * 100.0)
    };
    view! {
        <li class="probe-row" data-axis=a.axis.clone() data-accuracy=format!("{:.3}", a.accuracy)>
            <span class="pole first" class:won={share > 0.5}>{first.to_string()}</span>
            <span class="probe-track" role="img" aria-label=format!("{}: {:.0}% of items prefer {first}", a.axis, share * 100.0)>
                <span class="probe-mid" aria-hidden="true"></span>
                <span class="probe-bar" class:second={share < 0.5} style=format!("left: {left:.1}%; width: {width:.1}%")></span>
            </span>
            <span class="pole second" class:won={share < 0.5}>{second.to_string()}</span>
            <span class="probe-num">{format!("{:.0}% {first}", share * 100.0)}</span>
            <span class="probe-margin">{format!("{:+.2} nats", a.margin)}</span>
        </li>
    }
}

#[component]
pub(crate) fn ProbePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let running = move || state.probe.with(|p| p.running);
    let per_axis = RwSignal::new(DEFAULT_PER_AXIS);
    let blocked = move || state.busy() || !state.load(Lane::A).get().is_ready();
    let bars = move || state.probe.get().axes.iter().map(probe_row).collect_view();
    view! {
        <section class="settings probe" aria-label="Axis probe">
            <p class="label">"Axis probe"</p>
            <p class="help">
                "Scores held-out items per MBTI axis under the edited setting: the bar shows the share whose first-pole answer is the more likely."
            </p>
            <div class="probe-actions">
                <Show
                    when=running
                    fallback=move || view! {
                        <button
                            type="button"
                            class="button small"
                            id="probe-run"
                            disabled=blocked
                            on:click=move |_| start(state, clients, per_axis.get_untracked())
                        >
                            "Run probe"
                        </button>
                        <label class="probe-items">
                            <select
                                id="probe-items"
                                aria-label="Items per axis"
                                on:change=move |ev| {
                                    if let Ok(n) = event_target_value(&ev).parse::<usize>() {
                                        per_axis.set(n);
                                    }
                                }
                            >
                                {PER_AXIS
                                    .iter()
                                    .map(|&n| view! {
                                        <option value=n.to_string() selected=move || per_axis.get() == n>{n.to_string()}</option>
                                    })
                                    .collect_view()}
                            </select>
                            " items per axis"
                        </label>
                    }
                >
                    <button type="button" class="button small danger" on:click=move |_| cancel(state, clients, Lane::A)>
                        "Cancel probe"
                    </button>
                    <progress
                        class="bar"
                        max=move || state.probe.with(|p| p.total.max(1)).to_string()
                        value=move || state.probe.with(|p| p.done).to_string()
                        aria-label="Probe progress"
                    ></progress>
                </Show>
            </div>
            <p class="help probe-status" aria-live="polite">
                {move || {
                    let p = state.probe.get();
                    if p.running {
                        format!("{} · item {} of {}", p.label, p.done, p.total)
                    } else if p.cancelled {
                        "Probe cancelled.".to_string()
                    } else if !p.axes.is_empty() {
                        p.label.clone()
                    } else {
                        String::new()
                    }
                }}
            </p>
            <ol class="probe-list">{bars}</ol>
        </section>
    }
}
