//! The message box: Enter sends (`actions::send`), Shift+Enter starts a new line,
//! Escape or the Cancel button stops the answers being written.

use leptos::prelude::*;
use web_sys::KeyboardEvent;

use super::actions::cancel_all;
use super::actions::send::send;
use super::client::Clients;
use super::state::{AppState, GenStatus};

#[component]
pub(crate) fn Composer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let answering = move || state.gens.iter().any(|g| g.get().is_answering());
    let cancelling = move || state.gens.iter().any(|g| g.get() == GenStatus::Cancelling);
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        match ev.key().as_str() {
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                send(state, clients);
            }
            "Escape" if state.busy_untracked() => {
                ev.prevent_default();
                cancel_all(state, clients);
            }
            _ => {}
        }
    };
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send(state, clients);
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
                    {move || answering().then_some(" · Esc to stop")}
                </p>
                <Show
                    when=answering
                    fallback=move || {
                        view! {
                            <button type="submit" class="button primary" disabled=move || state.busy()>
                                "Send"
                            </button>
                        }
                    }
                >
                    <button
                        type="button"
                        class="button danger"
                        disabled=cancelling
                        on:click=move |_| cancel_all(state, clients)
                    >
                        "Cancel"
                    </button>
                </Show>
            </div>
        </form>
    }
}
