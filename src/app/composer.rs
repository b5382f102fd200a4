//! The message box: Enter sends, Shift+Enter starts a new line, Escape or
//! the Cancel button stops an answer. Sending appends the question and an
//! empty answer to the conversation and asks the worker for the whole
//! conversation's continuation.

use leptos::prelude::*;
use web_sys::KeyboardEvent;

use super::client::Client;
use super::conversation::scroll_log_to_end;
use super::methods;
use super::settings;
use super::state::{AppState, GenStatus, LoadStatus, Role, SteerTrace, Turn};
use crate::steer::Method;
use crate::worker::protocol::{Command, GenerateRequest, RunRequest};

/// Sends the draft (even an empty one: the engine answers with a readable error).
pub fn send(state: AppState, client: Client) {
    if state.generation.get_untracked().is_busy() {
        return;
    }
    match state.load.get_untracked() {
        LoadStatus::Ready { .. } => {}
        LoadStatus::Failed => {
            // Keep the error that explains the failure; else offer a retry.
            if state.banner.with_untracked(Option::is_none) {
                state.show_error(
                    "model_fetch",
                    "the model is not loaded, so the message was not sent",
                );
            }
            return;
        }
        _ => {
            state.show_error(
                "not_ready",
                "the model is not ready yet, so the message was not sent",
            );
            return;
        }
    }
    if state.settings.method.get_untracked() != Method::Base {
        return send_run(state, client);
    }
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
    state.generation.set(GenStatus::Prefill {
        prompt_tokens: None,
    });
    scroll_log_to_end();
    client.send(&Command::Generate(GenerateRequest {
        system,
        messages: Some(messages),
        user: None,
        max_tokens,
        sampling,
    }));
}

/// Sends the draft to a steering method: one user message, the method's
/// settings; the answer carries a trace (rewards, importance, chunks).
fn send_run(state: AppState, client: Client) {
    let text = state.draft.get_untracked();
    let (config, experts) = match methods::run_config(&state.settings, &text) {
        Ok(v) => v,
        Err(message) => {
            state.show_error("invalid_settings", &message);
            return;
        }
    };
    let user = Turn::new(state.fresh_id(), Role::User, &text);
    let mut answer = Turn::new(state.fresh_id(), Role::Assistant, "");
    answer.steer = Some(SteerTrace::new(config.method, experts));
    answer.streaming.set(true);
    state.banner.set(None);
    state.turns.update(|turns| {
        turns.push(user);
        turns.push(answer);
    });
    state.draft.set(String::new());
    state.generation.set(GenStatus::Prefill {
        prompt_tokens: None,
    });
    scroll_log_to_end();
    client.send(&Command::Run(RunRequest { config }));
}

#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let client = expect_context::<Client>();
    let busy = move || state.generation.get().is_busy();
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        match ev.key().as_str() {
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                send(state, client);
            }
            "Escape" if state.generation.get_untracked().is_busy() => {
                ev.prevent_default();
                client.cancel();
            }
            _ => {}
        }
    };
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send(state, client);
            }
        >
            <label for="message" class="sr-only">"Message"</label>
            <textarea
                id="message"
                rows="2"
                placeholder="Message SmolLM2…"
                aria-describedby="composer-hint"
                bind:value=state.draft
                on:keydown=on_keydown
            ></textarea>
            <div class="composer-bar">
                <p id="composer-hint" class="hint">
                    <kbd>"Enter"</kbd>" to send · "<kbd>"Shift"</kbd>"+"<kbd>"Enter"</kbd>
                    " for a new line"
                    {move || busy().then_some(" · Esc to stop")}
                </p>
                <Show
                    when=busy
                    fallback=move || {
                        view! {
                            <button type="submit" class="button primary">
                                "Send"
                            </button>
                        }
                    }
                >
                    <button
                        type="button"
                        class="button danger"
                        disabled=move || state.generation.get() == GenStatus::Cancelling
                        on:click=move |_| client.cancel()
                    >
                        "Cancel"
                    </button>
                </Show>
            </div>
        </form>
    }
}
