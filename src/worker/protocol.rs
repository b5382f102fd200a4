//! The page ↔ worker messages (the types live in [`crate::page_data::protocol`],
//! compiled natively too) and their conversion to and from the plain JS
//! objects that cross `postMessage`.

pub(crate) use crate::page_data::protocol::*;

use wasm_bindgen::JsValue;

impl Command {
    pub(crate) fn to_js(&self) -> Result<JsValue, String> {
        serde_wasm_bindgen::to_value(self).map_err(|e| e.to_string())
    }

    pub(crate) fn from_js(value: JsValue) -> Result<Self, String> {
        serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
    }
}

impl Event {
    pub(crate) fn to_js(&self) -> Result<JsValue, String> {
        serde_wasm_bindgen::to_value(self).map_err(|e| e.to_string())
    }

    pub(crate) fn from_js(value: JsValue) -> Result<Self, String> {
        serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
    }
}
