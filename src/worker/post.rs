//! Posting an event to the page from the worker's global scope.

use wasm_bindgen::JsCast;
use web_sys::DedicatedWorkerGlobalScope;

use super::protocol::Event;

/// Posts one event to the page (dropped with a console note if it cannot be encoded).
pub(crate) fn post(event: &Event) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match event.to_js() {
        Ok(value) => {
            if let Err(e) = scope.post_message(&value) {
                web_sys::console::error_2(&"worker: postMessage failed".into(), &e);
            }
        }
        Err(e) => web_sys::console::error_1(&format!("worker: cannot encode event: {e}").into()),
    }
}
