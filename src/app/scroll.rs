//! The conversation log's scrolling: whether the reader is at its end, and
//! following new text there (the log is the element with id [`LOG_ID`],
//! drawn by `conversation`).

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The conversation log's element id.
pub(crate) const LOG_ID: &str = "log";

fn log_element() -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .get_element_by_id(LOG_ID)?
        .dyn_into()
        .ok()
}

/// Whether the log is scrolled (nearly) to its end, so new text should follow.
pub(crate) fn near_bottom() -> bool {
    log_element()
        .map(|el| el.scroll_height() - el.scroll_top() - el.client_height() < 96)
        .unwrap_or(false)
}

/// Scrolls the log to its end after the next render.
pub(crate) fn scroll_log_to_end() {
    request_animation_frame(|| {
        if let Some(el) = log_element() {
            el.set_scroll_top(el.scroll_height());
        }
    });
}
