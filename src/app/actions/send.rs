//! Sending: a new message goes to the plain chat (Base, one lane) or to
//! each active lane's steering run, with the whole conversation so far; a
//! re-run asks the same question again with one lane's new settings and
//! the same seed, replacing that lane's answer in place.

use leptos::prelude::*;

use super::client::Clients;
use super::conversation::scroll_log_to_end;
use super::methods;
use super::settings;
use super::state::{AppState, GenStatus, Lane, LoadStatus, Role, Turn};
use super::steer_trace::{Origin, SteerTrace};
use crate::steer::run::Turn as RunTurn;
use crate::steer::Method;
use crate::worker::protocol::{Command, GenerateRequest, RunRequest};

/// Whether every worker the message needs has the model; else says why.
fn ready(state: &AppState, lanes: &[Lane]) -> bool {
    for &lane in lanes {
        match state.load(lane).get_untracked() {
            LoadStatus::Ready { .. } => {}
            LoadStatus::Failed => {
                // Keep the error that explains the failure; else offer a retry.
                if state.banner.with_untracked(Option::is_none) {
                    state.show_error(
                        "model_fetch",
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
                    "not_ready",
                    &format!("{which}, so the message was not sent"),
                );
                return false;
            }
        }
    }
    true
}

/// The conversation so far as the engine's turns.
fn history(turns: &[Turn]) -> Vec<RunTurn> {
    turns.iter().map(Turn::run_turn).collect()
}

/// Sends the draft (even an empty one: the engine answers with a readable error).
pub fn send(state: AppState, clients: Clients) {
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
    if lanes.len() == 1 && state.lane(Lane::A).method.get_untracked() == Method::Base {
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
            Err(message) => return state.show_error("invalid_settings", &message),
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
fn start(state: AppState, clients: Clients, trace: &SteerTrace) {
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
            state.show_error("invalid_settings", &message);
            return;
        }
    };
    let text = state.draft.get_untracked();
    let mut messages: Vec<_> = state
        .turns
        .with_untracked(|turns| turns.iter().map(Turn::wire).collect());
    let user = Turn::new(state.fresh_id(), Role::User, &text);
    messages.push(user.wire());
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

/// Whether the last answer has a live trace for `lane` that a re-run may replace.
pub fn can_rerun(state: &AppState, lane: Lane) -> bool {
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
pub fn rerun(state: AppState, clients: Clients, lane: Lane) {
    if !can_rerun(&state, lane) || !ready(&state, &[lane]) {
        return;
    }
    let (past, question, old) = state.turns.with_untracked(|turns| {
        let n = turns.len();
        (
            history(&turns[..n - 2]),
            turns[n - 2].content(),
            turns[n - 1].clone(),
        )
    });
    let (config, experts) = match methods::run_config(&state, lane, past, &question) {
        Ok(v) => v,
        Err(message) => return state.show_error("invalid_settings", &message),
    };
    if let Err(e) = config.validate() {
        return state.show_error(e.kind(), &e.to_string());
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
    start(state, clients, &trace);
}
