//! The playground page (Leptos, client-side rendered): a chat with
//! SmolLM2-135M running in a Web Worker. The page only draws state and
//! forwards commands; every forward pass happens in the worker, so the
//! page never freezes.
//!
//! Map: `state` (signals), `client` (the worker connection), and one file
//! per part of the page: `progress`, `banner`, `settings`, `conversation`,
//! `composer`, `methods` (the method picker) and `trace` (how a steered
//! answer is drawn); `format` holds text formatters.

pub mod banner;
pub mod client;
pub mod composer;
pub mod conversation;
pub mod format;
pub mod methods;
pub mod progress;
pub mod settings;
pub mod state;
pub mod trace;

use leptos::prelude::*;

use banner::ErrorBanner;
use client::Client;
use composer::Composer;
use conversation::Conversation;
use methods::MethodPanel;
use progress::ModelStatus;
use settings::SettingsPanel;
use state::AppState;

#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    let client = Client::start(state);
    provide_context(client);

    // An answer in progress is cancelled; its `done` finds no turn to finish.
    let new_chat = move |_| {
        client.cancel();
        state.turns.set(Vec::new());
        state.banner.set(None);
    };
    let has_turns = move || state.turns.with(|t| !t.is_empty());

    view! {
        <div class="page">
            <header class="top">
                <div class="brand">
                    <h1>"Persona playground"</h1>
                    <p class="tagline">"SmolLM2-135M, running privately in your browser"</p>
                </div>
                <button
                    type="button"
                    class="button quiet"
                    disabled=move || !has_turns()
                    on:click=new_chat
                >
                    "New chat"
                </button>
            </header>
            <div class="layout">
                <main class="chat">
                    <ModelStatus />
                    <ErrorBanner on_retry=Callback::new(move |_| client.restart()) />
                    <Conversation />
                    <Composer />
                </main>
                <aside class="side">
                    <MethodPanel />
                    <SettingsPanel />
                </aside>
            </div>
        </div>
    }
}
