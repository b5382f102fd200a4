//! The settings in the address bar, so a setting can be shared as a link:
//! persona, seed, length and sampling, and per lane the method, α, k, β, K
//! and PDD's slider weights (lane B's with a `b_` prefix, with `compare=1`).
//! Read once at start; written back (replaceState) whenever they change.
//! Other parameters are kept: `?model=`, `?backend=cpu|webgpu`, which
//! forces a backend (read here; a value that is no backend gets a message
//! and the automatic choice), and `?cache_mb=`, the prefix cache's budget
//! (0 turns it off; a value that is no budget gets a message and the
//! default), and `?threads=N`, the model worker's threads (checked by
//! `page_data::thread_plan`), and `?kernels=int8|exact`, the CPU's kernel
//! family (`page_data::kernel_choice`).

use leptos::prelude::*;
use web_sys::UrlSearchParams;

use super::methods::{experts, personas};
use super::state::{AppState, Lane, MethodSettings};
use crate::page_data::kernel_choice::KernelChoice;
use crate::page_data::thread_plan::{parse_simd, parse_threads};
pub(crate) use crate::page_data::url_params::slug;
use crate::page_data::url_params::{parse_alphas, parse_cache_mb, parse_weights};
use crate::steer::{Knob, Method};
use crate::worker::protocol::BackendChoice;

/// The parameters this module owns (others in the query are left alone).
const KEYS: [&str; 6] = ["persona", "seed", "max", "temp", "top_p", "compare"];
const LANE_KEYS: [&str; 7] = ["method", "alpha", "k", "beta", "topk", "w", "exact"];

fn key(lane: Lane, name: &str) -> String {
    match lane {
        Lane::A => name.to_string(),
        Lane::B => format!("b_{name}"),
    }
}

fn current_params() -> Option<UrlSearchParams> {
    let search = web_sys::window()?.location().search().ok()?;
    UrlSearchParams::new_with_str(&search).ok()
}

/// Applies the settings the page's URL carries.
pub(crate) fn restore(state: &AppState) {
    let Some(q) = current_params() else {
        return;
    };
    if let Some(b) = q.get("backend") {
        match b.parse::<BackendChoice>() {
            Ok(choice) => state.backend_choice.set_value(choice),
            Err(message) => state.show_error("backend_param", &message),
        }
    }
    if let Some(mb) = q.get("cache_mb") {
        match parse_cache_mb(&mb) {
            Ok(mb) => state.cache_mb.set_value(Some(mb)),
            Err(message) => state.show_error("url_param", &message),
        }
    }
    if let Some(k) = q.get("kernels") {
        match k.parse::<KernelChoice>() {
            Ok(k) => state.kernels.set_value(k),
            Err(message) => state.show_error("url_param", &message),
        }
    }
    if let Some(n) = q.get("threads") {
        match parse_threads(&n) {
            Ok(n) => state.threads.set_value(Some(n)),
            Err(message) => state.show_error("url_param", &message),
        }
    }
    if let Some(v) = q.get("simd") {
        match parse_simd(&v) {
            Ok(relaxed) => state.relaxed_simd.set_value(relaxed),
            Err(message) => state.show_error("url_param", &message),
        }
    }
    let s = state.settings;
    if let Some(p) = q.get("persona") {
        if let Some(i) = personas().iter().position(|x| slug(&x.name) == p) {
            s.persona.set(i);
        }
    }
    if let Some(v) = q.get("seed") {
        s.seed.set(v);
    }
    if let Some(v) = q.get("max") {
        s.max_tokens.set(v);
    }
    if let Some(t) = q.get("temp") {
        s.greedy.set(false);
        s.temperature.set(t);
        if let Some(p) = q.get("top_p") {
            s.top_p.set(p);
        }
    }
    restore_lane(state, &q, Lane::A);
    if q.get("compare").as_deref() == Some("1") {
        state.compare.set(true);
        restore_lane(state, &q, Lane::B);
    }
}

fn restore_lane(state: &AppState, q: &UrlSearchParams, lane: Lane) {
    let m = state.lane(lane);
    let get = |name: &str| q.get(&key(lane, name));
    if let Some(method) = get("method").and_then(|v| v.parse::<Method>().ok()) {
        m.method.set(method);
    }
    if let Some(list) = get("alpha") {
        let names: Vec<&str> = experts().iter().map(|e| e.name.as_str()).collect();
        let (alphas, problem) = parse_alphas(&list, &names);
        m.alphas.set(alphas);
        if let Some(message) = problem {
            state.show_error("url_alpha", &message);
        }
    }
    for (name, signal) in [("k", m.k), ("beta", m.beta), ("topk", m.top_k)] {
        if let Some(v) = get(name) {
            signal.set(v);
        }
    }
    m.exact.set(get("exact").as_deref() == Some("1"));
    if let Some(w) = get("w") {
        match parse_weights(&w) {
            Ok(weights) => m.pdd_weights.set(Some(weights)),
            Err(message) => {
                m.pdd_weights.set(None);
                state.show_error("url_weights", &message);
            }
        }
    }
}

fn write_lane(q: &UrlSearchParams, lane: Lane, m: MethodSettings) {
    let set = |name: &str, value: &str| q.set(&key(lane, name), value);
    let method = m.method.get();
    set("method", method.name());
    if super::methods::uses_experts(method) {
        let alphas = m.alphas.get();
        let list: Vec<String> = experts()
            .iter()
            .zip(&alphas)
            .filter(|(_, a)| **a != 0.0)
            .map(|(e, a)| format!("{}:{a}", e.name))
            .collect();
        set("alpha", &list.join(","));
    }
    for knob in method.info().knobs {
        match knob {
            Knob::ChunkSize => {
                set("k", &m.k.get());
                if m.exact.get() {
                    set("exact", "1");
                }
            }
            Knob::Beta => set("beta", &m.beta.get()),
            Knob::TopK => set("topk", &m.top_k.get()),
            Knob::ImportanceWeights => {
                if let Some(w) = m.pdd_weights.get() {
                    let list: Vec<String> = w.iter().map(|x| x.to_string()).collect();
                    set("w", &list.join(","));
                }
            }
            Knob::AnswerTries => {}
        }
    }
}

/// Writes the settings into the URL whenever they change.
pub(crate) fn keep_in_sync(state: AppState) {
    Effect::new(move |_| {
        let Some(q) = current_params() else {
            return;
        };
        for k in KEYS {
            q.delete(k);
        }
        for lane in Lane::BOTH {
            for k in LANE_KEYS {
                q.delete(&key(lane, k));
            }
        }
        let s = state.settings;
        if let Some(p) = personas().get(s.persona.get()) {
            q.set("persona", &slug(&p.name));
        }
        q.set("seed", &s.seed.get());
        q.set("max", &s.max_tokens.get());
        if !s.greedy.get() {
            q.set("temp", &s.temperature.get());
            q.set("top_p", &s.top_p.get());
        }
        write_lane(&q, Lane::A, state.lane(Lane::A));
        if state.compare.get() {
            q.set("compare", "1");
            write_lane(&q, Lane::B, state.lane(Lane::B));
        }
        let Some(window) = web_sys::window() else {
            return;
        };
        let query: String = q.to_string().into();
        let path = window.location().pathname().unwrap_or_default();
        let url = format!("{path}?{query}");
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    });
}

/// Copies the page's URL (the current settings) to the clipboard.
pub(crate) fn copy_link(state: AppState) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Ok(href) = window.location().href() else {
        return;
    };
    let promise = window.navigator().clipboard().write_text(&href);
    wasm_bindgen_futures::spawn_local(async move {
        if wasm_bindgen_futures::JsFuture::from(promise).await.is_err() {
            state.show_error(
                "clipboard",
                &format!("the browser did not allow copying; the link is {href}"),
            );
        }
    });
}
