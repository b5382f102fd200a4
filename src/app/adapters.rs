//! The adapters panel: the LoRA adapters shipped with this build (listed
//! in `adapters/index.json`, written at build time by `web/adapters.sh`
//! from `assets/adapters/*/`), each with its card and a Load button, and
//! "Add your own": a PEFT adapter's two files picked from disk. The worker
//! checks every adapter; a good one becomes an expert with its own α
//! slider for the rest of the session, a bad one is explained in the banner.

use leptos::prelude::*;
use serde::Deserialize;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::client::Clients;
use super::state::AppState;
use crate::page_data::protocol::ErrorKind;
use crate::worker::protocol::{AdapterRequest, AdapterSource};

/// The build's adapter listing, next to the page.
const INDEX: &str = "adapters/index.json";

/// One shipped adapter: its folder name and model card (markdown).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct Shipped {
    pub name: String,
    #[serde(default)]
    pub card: String,
}

/// The listing, or an empty one when the build ships none.
async fn fetch_index() -> Vec<Shipped> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let Ok(response) = JsFuture::from(window.fetch_with_str(INDEX)).await else {
        return Vec::new();
    };
    let response: web_sys::Response = response.unchecked_into();
    if !response.ok() {
        return Vec::new();
    }
    let Ok(text) = response.text() else {
        return Vec::new();
    };
    let text = JsFuture::from(text)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// A markdown card as blocks: headings, list items, paragraphs.
fn card_view(card: &str) -> impl IntoView {
    let mut blocks = Vec::new();
    let mut paragraph = String::new();
    let flush = |p: &mut String, blocks: &mut Vec<AnyView>| {
        if !p.trim().is_empty() {
            blocks.push(view! { <p>{p.trim().to_string()}</p> }.into_any());
        }
        p.clear();
    };
    for line in card.lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('#') {
            flush(&mut paragraph, &mut blocks);
            let h = h.trim_start_matches('#').trim().to_string();
            blocks.push(view! { <p class="card-heading">{h}</p> }.into_any());
        } else if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(view! { <p class="card-item">{format!("• {item}")}</p> }.into_any());
        } else if t.is_empty() {
            flush(&mut paragraph, &mut blocks);
        } else {
            paragraph.push_str(t);
            paragraph.push(' ');
        }
    }
    flush(&mut paragraph, &mut blocks);
    view! { <div class="card-body">{blocks}</div> }
}

#[component]
pub(crate) fn AdapterPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let clients = expect_context::<Clients>();
    let shipped = LocalResource::new(fetch_index);
    let name = RwSignal::new("my-adapter".to_string());
    let blocked = move || {
        state.busy()
            || state.adapter_job.get().is_some()
            || !state.load(super::state::Lane::A).get().is_ready()
    };
    let loaded = move |n: &str| state.adapters.with(|a| a.iter().any(|x| x.name == n));
    let add = move |req: AdapterRequest, files: wasm_bindgen::JsValue| {
        if state
            .adapters
            .with_untracked(|a| a.iter().any(|x| x.name == req.name))
        {
            state.show_error(
                ErrorKind::Adapter,
                &format!(
                    "an adapter named {} is loaded already; choose another name",
                    req.name
                ),
            );
            return;
        }
        state.banner.set(None);
        state.adapter_job.set(Some(req.name.clone()));
        clients.a.queue_adapter((req, files));
    };
    let on_files = move |ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let files = js_sys::Array::new();
        if let Some(list) = input.files() {
            for i in 0..list.length() {
                if let Some(f) = list.get(i) {
                    files.push(&f);
                }
            }
        }
        input.set_value("");
        if files.length() == 0 {
            return;
        }
        let req = AdapterRequest {
            name: name.get_untracked().trim().to_string(),
            source: AdapterSource::Files,
        };
        add(req, files.into());
    };
    let shipped_list = move || {
        let list = shipped.get().unwrap_or_default();
        if list.is_empty() {
            return view! {
                <p class="help">"This build ships no adapters (assets/adapters/ was empty when it was built)."</p>
            }
            .into_any();
        }
        list.into_iter()
            .map(|a| {
                let n = a.name.clone();
                let n2 = a.name.clone();
                let is_loaded = move || loaded(&n);
                let load = move |_| {
                    add(
                        AdapterRequest {
                            name: n2.clone(),
                            source: AdapterSource::Url {
                                base: format!("adapters/{n2}"),
                            },
                        },
                        wasm_bindgen::JsValue::UNDEFINED,
                    )
                };
                view! {
                    <li class="adapter shipped" data-adapter=a.name.clone()>
                        <div class="adapter-head">
                            <span class="adapter-name">{a.name.clone()}</span>
                            <button
                                type="button"
                                class="button small"
                                disabled=move || is_loaded() || blocked()
                                on:click=load
                            >
                                {let n = a.name.clone(); move || if loaded(&n) { "Loaded" } else { "Load" }}
                            </button>
                        </div>
                        <details class="card">
                            <summary>"Model card"</summary>
                            {card_view(&a.card)}
                        </details>
                    </li>
                }
            })
            .collect_view()
            .into_any()
    };
    let loaded_list = move || {
        state.adapters.with(|a| {
            a.iter()
                .map(|a| {
                    view! {
                        <li class="chip" data-adapter=a.name.clone() title=a.shipped.clone().unwrap_or_else(|| "picked from disk".into())>
                            <b>{a.name.clone()}</b>
                            {format!(
                                " · rank {} · {} matrices · {}",
                                a.rank,
                                a.tensors,
                                if a.shipped.is_some() { "shipped" } else { "from disk" },
                            )}
                        </li>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <section class="settings adapters" aria-label="LoRA adapters">
            <p class="label">"LoRA adapters"</p>
            <p class="help">
                "PEFT LoRA adapters for SmolLM2-135M-Instruct become experts with their own α (SCR, MOD, RS, Soups)."
            </p>
            <ul class="adapter-list">{shipped_list}</ul>
            <div class="field add-adapter">
                <label for="adapter-name">"Add your own"</label>
                <div class="add-row">
                    <input id="adapter-name" type="text" spellcheck="false" bind:value=name />
                    <input
                        id="adapter-files"
                        class="file-input"
                        type="file"
                        multiple=true
                        accept=".json,.safetensors"
                        disabled=blocked
                        on:change=on_files
                    />
                    <label class="button small file-button" class:disabled=blocked for="adapter-files">
                        "Choose files…"
                    </label>
                </div>
                <p class="help">"Pick adapter_config.json and adapter_model.safetensors together."</p>
                {move || state.adapter_job.get().map(|n| view! {
                    <p class="status-line checking"><span class="dot" aria-hidden="true"></span>{format!("Checking {n}…")}</p>
                })}
            </div>
            <ul class="chips loaded-adapters" aria-label="Loaded adapters">{loaded_list}</ul>
        </section>
    }
}
