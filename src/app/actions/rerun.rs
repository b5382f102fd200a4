//! Re-running the last answer when a slider moves (an α, or a PDD
//! importance weight): debounced, with the same seed, replacing only the
//! moved lane's answer. A run in progress on that lane is cancelled first;
//! the re-run starts when the lane's worker is idle again.

use std::time::Duration;

use leptos::prelude::*;

use super::client::Clients;
use super::send;
use super::state::{AppState, GenStatus, Lane};

/// How long the sliders must rest before the answer re-runs.
const DEBOUNCE: Duration = Duration::from_millis(350);

/// Asks for a re-run of `lane`'s last answer once the sliders rest.
pub fn schedule(state: AppState, clients: Clients, lane: Lane) {
    let tick = state.rerun_tick.get_value() + 1;
    state.rerun_tick.set_value(tick);
    set_timeout(
        move || {
            if state.rerun_tick.get_value() != tick || !send::can_rerun(&state, lane) {
                return;
            }
            state.pending_rerun.update_value(|p| p[lane.index()] = true);
            match state.gen(lane).get_untracked() {
                GenStatus::Idle => resume(state, clients),
                GenStatus::Job | GenStatus::Cancelling => {}
                _ => clients.get(lane).cancel(),
            }
        },
        DEBOUNCE,
    );
}

/// Starts the waiting re-runs whose lanes are idle.
pub fn resume(state: AppState, clients: Clients) {
    for lane in Lane::BOTH {
        let waiting = state.pending_rerun.with_value(|p| p[lane.index()]);
        if waiting && !state.gen(lane).get_untracked().is_busy() {
            state
                .pending_rerun
                .update_value(|p| p[lane.index()] = false);
            send::rerun(state, clients, lane);
        }
    }
}
