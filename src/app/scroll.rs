//! The conversation log's scrolling: whether the reader is at its end, and
//! following new text there (the log is the element with id [`LOG_ID`],
//! drawn by `conversation`). Whether to follow is kept from the log's own
//! scroll events, so a streamed token never reads the layout (which would
//! force a synchronous layout per token), and at most one scroll per frame
//! is scheduled however many tokens arrive in it.

use std::cell::Cell;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The conversation log's element id.
pub(crate) const LOG_ID: &str = "log";

thread_local! {
    /// The reader is at the log's end (as of its last scroll event).
    static FOLLOWING: Cell<bool> = const { Cell::new(true) };
    /// A scroll to the end waits for the next frame.
    static SCHEDULED: Cell<bool> = const { Cell::new(false) };
    /// Where this module last scrolled the log to (its own scroll's event
    /// keeps following, however much text arrived since).
    static SET_TOP: Cell<i32> = const { Cell::new(-1) };
}

fn log_element() -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .get_element_by_id(LOG_ID)?
        .dyn_into()
        .ok()
}

/// The log's `scroll` handler: whether the reader is (nearly) at its end.
pub(crate) fn on_log_scroll() {
    let Some(el) = log_element() else {
        return;
    };
    let ours = el.scroll_top() == SET_TOP.get();
    FOLLOWING.set(ours || el.scroll_height() - el.scroll_top() - el.client_height() < 96);
}

/// Whether new text should follow the reader's view to the log's end.
pub(crate) fn following() -> bool {
    FOLLOWING.get()
}

/// Scrolls the log to its end after the next render (once per frame), and
/// follows new text from then on (the reader sent a message).
pub(crate) fn scroll_log_to_end() {
    FOLLOWING.set(true);
    follow_to_end();
}

/// New text arrived: scrolls the log to its end after the next render
/// (once per frame) if the reader is still following then. A frame runs
/// its scroll events before its animation-frame callbacks, so a reader who
/// scrolled away since the text arrived is not pulled back.
pub(crate) fn follow_to_end() {
    if SCHEDULED.replace(true) {
        return;
    }
    request_animation_frame(|| {
        SCHEDULED.set(false);
        if let (true, Some(el)) = (FOLLOWING.get(), log_element()) {
            el.set_scroll_top(el.scroll_height());
            SET_TOP.set(el.scroll_top());
        }
    });
}
