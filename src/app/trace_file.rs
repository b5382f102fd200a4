//! Trace files in the page: a steered answer exported as the JSON
//! `persona run --trace` writes, and a file replayed into the page: its
//! conversation, tokens, tints, tooltips, importance bars and chunk strip
//! drawn from the events, no model run. The format and its parsing are
//! [`crate::page_data::trace_file`].

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::state::{AppState, Lane, Role, Turn};
use super::steer_trace::{Origin, SteerTrace};
use crate::page_data::protocol::ErrorKind;
pub(crate) use crate::page_data::trace_file::{TraceFile, VERSION};
use crate::steer::Event as SteerEvent;

impl TraceFile {
    pub fn of(trace: &SteerTrace) -> Self {
        Self {
            version: VERSION,
            config: (*trace.config).clone(),
            text: trace.text.get_untracked(),
            events: trace.events(),
            chunk_text: trace.chunk_texts(),
        }
    }
}

/// Offers `trace` as a download.
pub(crate) fn export(trace: &SteerTrace) -> Result<(), String> {
    let file = TraceFile::of(trace);
    let json = serde_json::to_string_pretty(&file).map_err(|e| e.to_string())?;
    let fail = |e: wasm_bindgen::JsValue| format!("the browser refused the download: {e:?}");
    let parts = js_sys::Array::of1(&json.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(&file.file_name());
    a.click();
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(10),
    );
    Ok(())
}

/// Reads a picked trace file and replaces the conversation with its replay.
pub(crate) async fn import(state: AppState, file: web_sys::File) {
    let name = file.name();
    let text = match JsFuture::from(file.text()).await {
        Ok(t) => t.as_string().unwrap_or_default(),
        Err(e) => {
            return state.show_error(
                ErrorKind::TraceFile,
                &format!(
                    "{name} could not be read: {}",
                    crate::worker::loader::js_reason(&e)
                ),
            )
        }
    };
    match TraceFile::parse(&text) {
        Ok(trace) => replay(state, trace, &name),
        Err(e) => state.show_error(ErrorKind::TraceFile, &format!("the file {name}: {e}")),
    }
}

/// The conversation of `file` as turns, the answer drawn from its events.
fn replay(state: AppState, file: TraceFile, name: &str) {
    let TraceFile {
        config,
        events,
        chunk_text,
        ..
    } = file;
    let mut turns: Vec<Turn> = config
        .history
        .iter()
        .map(|t| {
            let role = t.role;
            Turn::new(state.fresh_id(), role, &t.content)
        })
        .collect();
    turns.push(Turn::new(state.fresh_id(), Role::User, &config.user));
    let experts = config.experts.iter().map(|e| e.name.clone()).collect();
    let trace = SteerTrace::new(Lane::A, Origin::File(name.to_string()), config, experts);
    let mut chunks = chunk_text.into_iter();
    for event in events {
        let proposed = match &event {
            SteerEvent::Chunk { .. } => chunks.next().unwrap_or_default(),
            _ => Vec::new(),
        };
        trace.apply(event, proposed);
    }
    trace.streaming.set(false);
    let mut answer = Turn::new(state.fresh_id(), Role::Assistant, "");
    answer.steer = Some(trace);
    turns.push(answer);
    state.banner.set(None);
    state.turns.set(turns);
}
