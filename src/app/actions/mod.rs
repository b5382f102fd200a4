//! What the user can do to the conversation, in one place: send a message
//! (`send`: the plain chat or each active lane's steering run), re-run the
//! last answer when a slider moves (`rerun`: debounced, same seed, one
//! lane's answer replaced), cancel what the workers are writing, and start
//! a new chat. The views call these; the clients (`crate::app::client`)
//! carry them to the workers.

pub(crate) mod rerun;
pub(crate) mod send;

use leptos::prelude::*;

use super::client::Clients;
use super::state::{AppState, Lane};
use crate::worker::protocol::Command;

/// Stops the answer, probe or adapter check in progress on `lane`.
pub(crate) fn cancel(state: AppState, clients: Clients, lane: Lane) {
    let gen = state.gen(lane);
    let now = gen.get_untracked();
    if let Some(next) = now.cancel() {
        if next != now {
            gen.set(next);
        }
        clients.get(lane).send(&Command::Cancel);
    }
}

/// Cancels whatever either worker is doing.
pub(crate) fn cancel_all(state: AppState, clients: Clients) {
    for lane in Lane::BOTH {
        cancel(state, clients, lane);
    }
}

/// A new chat: answers in progress are cancelled (their `done` finds no
/// turn to finish), the conversation and the banner go.
pub(crate) fn new_chat(state: AppState, clients: Clients) {
    cancel_all(state, clients);
    state.turns.set(Vec::new());
    state.banner.set(None);
}
