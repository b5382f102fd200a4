//! A zero-delay yield to the worker's event loop. `wasm_bindgen_futures`
//! polls on microtasks, so a loop of awaits never lets `onmessage` run; a
//! message posted through a fresh `MessageChannel` comes back as a task,
//! after any queued `cancel`. (`setTimeout(0)` would clamp to 4 ms per token.)

use js_sys::Promise;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::MessageChannel;

/// Resolves on the next turn of the event loop, after pending messages.
pub(crate) async fn yield_now() {
    let Ok(channel) = MessageChannel::new() else {
        return;
    };
    let promise = Promise::new(&mut |resolve, _reject| {
        channel.port1().set_onmessage(Some(resolve.unchecked_ref()));
        if channel
            .port2()
            .post_message(&wasm_bindgen::JsValue::UNDEFINED)
            .is_err()
        {
            let _ = resolve.call0(&wasm_bindgen::JsValue::UNDEFINED);
        }
    });
    let _ = JsFuture::from(promise).await;
    channel.port1().set_onmessage(None);
    channel.port1().close();
    channel.port2().close();
}
