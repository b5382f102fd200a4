//! Sending: a new message goes to the plain chat (Base, one lane) or to
//! each active lane's steering run, with the whole conversation so far.

use leptos::prelude::*;

use crate::app::client::Clients;
use crate::app::methods;
use crate::app::scroll::scroll_log_to_end;
use crate::app::settings;
use crate::app::state::{AppState, GenStatus, Lane, LoadStatus, Role, Turn};
use crate::app::steer_trace::{Origin, SteerTrace};
use crate::page_data::protocol::ErrorKind;
use crate::steer::Turn as RunTurn;
use crate::worker::protocol::{Command, GenerateRequest, RunRequest};

/// Whether every worker the message needs has the model; else says why.
pub(super) fn ready(state: &AppState, lanes: &[Lane]) -> bool {
    for &lane in lanes {
        match state.load(lane).get_untracked() {
            LoadStatus::Ready { .. } => {}
            LoadStatus::Failed => {
                // Keep the error that explains the failure; else offer a retry.
                if state.banner.with_untracked(Option::is_none) {
                    state.show_error(
                        ErrorKind::ModelFetch,
                        "the model is not loaded, so the message was not sent",
                    );
                }
                return false;
            }
            _ => {
                let which = match lane {
                    Lane::A => "the model is not ready yet",
                    Lane::B => "the compare lane's model (B) is not ready yet",
                };
                state.show_error(
                    ErrorKind::NotReady,
                    &format!("{which}, so the message was not sent"),
                );
                return false;
            }
        }
    }
    true
}

/// The conversation so far as the engine's turns.
pub(super) fn history(turns: &[Turn]) -> Vec<RunTurn> {
    turns.iter().map(Turn::message).collect()
}

/// Sends the draft (even an empty one: the engine answers with a readable error).
pub(crate) fn send(state: AppState, clients: Clients) {
    if state.busy_untracked() {
        return;
    }
    let lanes = state.active_lanes();
    if !ready(&state, &lanes) {
        return;
    }
    // A new question: no waiting re-run applies any more, and PDD measures
    // importance again (no slider override).
    state.rerun_tick.update_value(|t| *t += 1);
    state.pending_rerun.set_value([false; 2]);
    for &lane in &lanes {
        state.lane(lane).pdd_weights.set(None);
    }
    if lanes.len() == 1 && state.lane(Lane::A).method.get_untracked().info().plain_chat {
        return send_chat(state, clients);
    }
    let text = state.draft.get_untracked();
    let past = state.turns.with_untracked(|t| history(t));
    let mut traces = Vec::new();
    for &lane in &lanes {
        match methods::run_config(&state, lane, past.clone(), &text) {
            Ok((config, experts)) => {
                traces.push(SteerTrace::new(lane, Origin::Live, config, experts))
            }
            Err(message) => return state.show_error(ErrorKind::InvalidSettings, &message),
        }
    }
    let user = Turn::new(state.fresh_id(), Role::User, &text);
    let mut answer = Turn::new(state.fresh_id(), Role::Assistant, "");
    answer.streaming.set(true);
    for t in &traces {
        match t.lane {
            Lane::A => answer.steer = Some(t.clone()),
            Lane::B => answer.compare = Some(t.clone()),
        }
    }
    state.banner.set(None);
    state.turns.update(|turns| {
        turns.push(user);
        turns.push(answer);
    });
    state.draft.set(String::new());
    for t in traces {
        start(state, clients, &t);
    }
    scroll_log_to_end();
}

/// Starts `trace`'s run on its lane's worker.
pub(super) fn start(state: AppState, clients: Clients, trace: &SteerTrace) {
    state.gen(trace.lane).set(GenStatus::Prefill {
        prompt_tokens: None,
    });
    clients.get(trace.lane).send(&Command::Run(RunRequest {
        config: (*trace.config).clone(),
    }));
}

/// The plain multi-turn chat with the system prompt (Base, no compare).
fn send_chat(state: AppState, clients: Clients) {
    let (max_tokens, sampling) = match settings::parse(&state.settings) {
        Ok(v) => v,
        Err(message) => {
            state.show_error(ErrorKind::InvalidSettings, &message);
            return;
        }
    };
    let text = state.draft.get_untracked();
    let mut messages: Vec<_> = state
        .turns
        .with_untracked(|turns| turns.iter().map(Turn::message).collect());
    let user = Turn::new(state.fresh_id(), Role::User, &text);
    messages.push(user.message());
    let answer = Turn::new(state.fresh_id(), Role::Assistant, "");
    answer.streaming.set(true);
    let system = Some(state.settings.system.get_untracked()).filter(|s| !s.trim().is_empty());
    state.banner.set(None);
    state.turns.update(|turns| {
        turns.push(user);
        turns.push(answer);
    });
    state.draft.set(String::new());
    state.gen(Lane::A).set(GenStatus::Prefill {
        prompt_tokens: None,
    });
    scroll_log_to_end();
    clients.a.send(&Command::Generate(GenerateRequest {
        system,
        messages: Some(messages),
        user: None,
        max_tokens,
        sampling,
    }));
}
