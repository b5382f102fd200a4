//! The playground page (Leptos, client-side rendered): a chat with
//! SmolLM2-135M running in Web Workers, steered by the persona methods.
//! The page only draws state and forwards commands; every forward pass
//! happens in a worker (two in compare mode), so the page never freezes.
//!
//! Map: `state` (signals; their plain data and the pure event reducer are
//! in `crate::page_data`) and `steer_trace` (a steered answer's data);
//! `client` (the worker connections: `connection`, `adapter_queue`,
//! `events`), `actions` (what the user does: `send`, `rerun` on a slider,
//! cancel, new chat); one file per part of the page: `progress`, `banner`,
//! `conversation` (its scrolling in `scroll`), `composer`, `method_panel`
//! (compare lanes, method picker, α sliders), `adapters`, `probe`,
//! `contrast` (the pole contrast: one expert at α = −1, 0, +1),
//! `settings_panel`, and `trace` (how a steered answer is drawn); `methods`
//! turns settings into a `RunConfig` (`settings` reads the typed values),
//! `trace_file` exports and replays traces, `url_state` keeps the settings
//! in the address bar, `format` holds text formatters.

pub(crate) mod actions;
pub(crate) mod adapters;
pub(crate) mod banner;
pub(crate) mod client;
pub(crate) mod composer;
pub(crate) mod contrast;
pub(crate) mod conversation;
pub(crate) mod format;
pub(crate) mod method_panel;
pub(crate) mod methods;
pub(crate) mod probe;
pub(crate) mod progress;
pub(crate) mod scroll;
pub(crate) mod settings;
pub(crate) mod settings_panel;
pub(crate) mod state;
pub(crate) mod steer_trace;
pub(crate) mod trace;
pub(crate) mod trace_file;
pub(crate) mod url_state;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use adapters::AdapterPanel;
use banner::ErrorBanner;
use client::Clients;
use composer::Composer;
use contrast::{ContrastPanel, ContrastView};
use conversation::Conversation;
use method_panel::MethodPanel;
use probe::ProbePanel;
use progress::ModelStatus;
use settings_panel::SettingsPanel;
use state::AppState;

// Re-exported as `persona::App` (the page binary mounts it); the lint does not
// see through the component macro.
#[allow(unreachable_pub)]
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new(methods::default_alphas());
    url_state::restore(&state);
    provide_context(state);
    let clients = Clients::start(state, actions::rerun::resume);
    provide_context(clients);
    if state.compare.get_untracked() {
        clients.b.ensure_started();
    }
    url_state::keep_in_sync(state);

    let new_chat = move |_| actions::new_chat(state, clients);
    let has_turns = move || state.turns.with(|t| !t.is_empty());
    let import_input = NodeRef::<leptos::html::Input>::new();
    let on_import = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let file = input.files().and_then(|f| f.get(0));
        input.set_value("");
        if let Some(file) = file {
            leptos::task::spawn_local(trace_file::import(state, file));
        }
    };

    view! {
        <div class="page">
            <header class="top">
                <div class="brand">
                    <h1>"Persona playground"</h1>
                    <p class="tagline">"SmolLM2-135M, steered toward a persona, running privately in your browser"</p>
                </div>
                <div class="top-actions">
                    <button
                        type="button"
                        class="button quiet"
                        id="share-link"
                        title="Copy a link that opens the page with these settings"
                        on:click=move |_| url_state::copy_link(state)
                    >
                        "Copy link"
                    </button>
                    <button
                        type="button"
                        class="button quiet"
                        disabled=move || state.busy()
                        on:click=move |_| {
                            if let Some(input) = import_input.get() {
                                input.click();
                            }
                        }
                    >
                        "Import trace…"
                    </button>
                    <input
                        id="import-trace"
                        class="hidden-input"
                        type="file"
                        accept=".json,application/json"
                        node_ref=import_input
                        on:change=on_import
                    />
                    <button
                        type="button"
                        class="button quiet"
                        disabled=move || !has_turns()
                        on:click=new_chat
                    >
                        "New chat"
                    </button>
                </div>
            </header>
            <div class="layout">
                <main class="chat">
                    <ModelStatus />
                    <ErrorBanner on_retry=Callback::new(move |_| clients.a.restart()) />
                    <Conversation />
                    <ContrastView />
                    <Composer />
                </main>
                <aside class="side">
                    <MethodPanel />
                    <AdapterPanel />
                    <ProbePanel />
                    <ContrastPanel />
                    <SettingsPanel />
                </aside>
            </div>
        </div>
    }
}
