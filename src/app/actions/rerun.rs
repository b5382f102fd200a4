//! Re-running the last answer when a slider moves (an α, or a PDD
//! importance weight): debounced, with the same seed, replacing only the
//! moved lane's answer. A run in progress on that lane is cancelled first;
//! the re-run starts when the lane's worker is idle again (`resume`, which
//! the clients call then). Invalid settings leave the answer as it is.

use std::time::Duration;

use leptos::prelude::*;

use super::send;
use crate::app::client::Clients;
use crate::app::methods;
use crate::app::state::{AppState, GenStatus, Lane, Role, Turn};
use crate::app::steer_trace::{Origin, SteerTrace};
use crate::page_data::protocol::ErrorKind;

/// How long the sliders must rest before the answer re-runs.
const DEBOUNCE: Duration = Duration::from_millis(350);

/// Asks for a re-run of `lane`'s last answer once the sliders rest.
pub(crate) fn schedule(state: AppState, clients: Clients, lane: Lane) {
    let tick = state.rerun_tick.get_value() + 1;
    state.rerun_tick.set_value(tick);
    set_timeout(
        move || {
            if state.rerun_tick.get_value() != tick || !can_rerun(&state, lane) {
                return;
            }
            state.pending_rerun.update_value(|p| p[lane.index()] = true);
            match state.gen(lane).get_untracked() {
                GenStatus::Idle => resume(state, clients),
                GenStatus::Job | GenStatus::Cancelling => {}
                _ => super::cancel(state, clients, lane),
            }
        },
        DEBOUNCE,
    );
}

/// Starts the waiting re-runs whose lanes are idle.
pub(crate) fn resume(state: AppState, clients: Clients) {
    for lane in Lane::BOTH {
        let waiting = state.pending_rerun.with_value(|p| p[lane.index()]);
        if waiting && !state.gen(lane).get_untracked().is_busy() {
            state
                .pending_rerun
                .update_value(|p| p[lane.index()] = false);
            rerun(state, clients, lane);
        }
    }
}

/// Whether the last answer has a live trace for `lane` that a re-run may replace.
pub(crate) fn can_rerun(state: &AppState, lane: Lane) -> bool {
    state.turns.with_untracked(|turns| {
        turns
            .last()
            .and_then(|t| t.trace(lane))
            .is_some_and(|t| t.origin == Origin::Live)
            && turns.len() >= 2
    })
}

/// Asks the last question again with `lane`'s current settings (same seed),
/// replacing that lane's answer. Invalid settings leave the answer as it is.
pub(crate) fn rerun(state: AppState, clients: Clients, lane: Lane) {
    if !can_rerun(&state, lane) || !send::ready(&state, &[lane]) {
        return;
    }
    let (past, question, old) = state.turns.with_untracked(|turns| {
        let n = turns.len();
        (
            send::history(&turns[..n - 2]),
            turns[n - 2].content(),
            turns[n - 1].clone(),
        )
    });
    let (config, experts) = match methods::run_config(&state, lane, past, &question) {
        Ok(v) => v,
        Err(message) => return state.show_error(ErrorKind::InvalidSettings, &message),
    };
    if let Err(e) = config.validate() {
        return state.show_error(ErrorKind::from(&e), &e.to_string());
    }
    let trace = SteerTrace::new(lane, Origin::Live, config, experts);
    let mut answer = Turn::new(state.fresh_id(), Role::Assistant, "");
    answer.steer = old.steer.clone();
    answer.compare = old.compare.clone();
    match lane {
        Lane::A => answer.steer = Some(trace.clone()),
        Lane::B => answer.compare = Some(trace.clone()),
    }
    answer.streaming.set(true);
    state.banner.set(None);
    state.turns.update(|turns| {
        turns.pop();
        turns.push(answer);
    });
    send::start(state, clients, &trace);
}
