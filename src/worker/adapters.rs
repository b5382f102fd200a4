//! Adapters in the worker: the two PEFT files (picked by the user, or
//! fetched from a folder served with the page) are read as bytes, checked by
//! `LoraAdapter::from_bytes` (base model, target modules, shapes, finite
//! values) and added to the backend, where steering runs use them as
//! experts (`ExpertKind::Adapter`). Every failure is an `adapter` error.
//! The checked adapter is handed back too: the worker keeps the session's
//! adapters to add them again if it has to switch to the CPU.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, Response, WorkerGlobalScope};

use super::backends::WorkerBackend;
use super::engine_error::WorkerError;
use super::loader::js_reason;
use super::protocol::{AdapterRequest, AdapterSource, ErrorKind, Event};
use crate::engine::Engine;
use crate::model::lora::LoraAdapter;

const CONFIG_FILE: &str = "adapter_config.json";
const WEIGHTS_FILE: &str = "adapter_model.safetensors";

fn bad(name: &str, message: impl std::fmt::Display) -> WorkerError {
    WorkerError::new(ErrorKind::Adapter, format!("adapter {name}: {message}"))
}

async fn bytes_of(promise: js_sys::Promise) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(promise).await.map_err(|e| js_reason(&e))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// The config and weights among the picked files (by name: the JSON file
/// and the `.safetensors` file).
async fn read_files(name: &str, files: &JsValue) -> Result<(Vec<u8>, Vec<u8>), WorkerError> {
    let files: Vec<File> = files
        .dyn_ref::<Array>()
        .map(|a| a.iter().filter_map(|f| f.dyn_into::<File>().ok()).collect())
        .unwrap_or_default();
    let find = |ends: &str, what: &str| {
        files
            .iter()
            .find(|f| f.name().to_lowercase().ends_with(ends))
            .cloned()
            .ok_or_else(|| {
                bad(
                    name,
                    format!("{what} is missing; choose both {CONFIG_FILE} and {WEIGHTS_FILE}"),
                )
            })
    };
    let config = find(".json", CONFIG_FILE)?;
    let weights = find(".safetensors", WEIGHTS_FILE)?;
    let read = async |f: &File| {
        bytes_of(f.array_buffer())
            .await
            .map_err(|e| bad(name, format!("cannot read {}: {e}", f.name())))
    };
    Ok((read(&config).await?, read(&weights).await?))
}

/// `base/file` fetched from the page's server.
async fn fetch(name: &str, base: &str, file: &str) -> Result<Vec<u8>, WorkerError> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let url = format!("{}/{file}", base.trim_end_matches('/'));
    let response: Response = JsFuture::from(scope.fetch_with_str(&url))
        .await
        .map_err(|e| bad(name, format!("cannot download {url}: {}", js_reason(&e))))?
        .unchecked_into();
    if !response.ok() {
        return Err(bad(
            name,
            format!("{url} answered HTTP {}", response.status()),
        ));
    }
    let promise = response
        .array_buffer()
        .map_err(|e| bad(name, js_reason(&e)))?;
    bytes_of(promise)
        .await
        .map_err(|e| bad(name, format!("reading {url} failed: {e}")))
}

/// Reads, checks and adds one adapter; posts `adapter_added` and returns
/// the adapter.
pub(crate) async fn add<B: WorkerBackend>(
    engine: &mut Engine<B>,
    req: AdapterRequest,
    files: &JsValue,
    post: &dyn Fn(&Event),
) -> Result<LoraAdapter, WorkerError> {
    let name = req.name.trim();
    if name.is_empty() {
        return Err(WorkerError::new(
            ErrorKind::Adapter,
            "give the adapter a name",
        ));
    }
    let (config, weights) = match &req.source {
        AdapterSource::Files => read_files(name, files).await?,
        AdapterSource::Url { base } => (
            fetch(name, base, CONFIG_FILE).await?,
            fetch(name, base, WEIGHTS_FILE).await?,
        ),
    };
    let adapter =
        LoraAdapter::from_bytes(name, &config, &weights, engine.config()).map_err(|e| {
            let message = match e {
                crate::Error::InvalidInput(m) => m,
                other => other.to_string(),
            };
            WorkerError::new(ErrorKind::Adapter, message)
        })?;
    let (rank, tensors) = (adapter.rank, adapter.deltas.len());
    let id = engine.backend.add_adapter(adapter.clone())?;
    post(&Event::AdapterAdded {
        name: name.to_string(),
        id: id.0,
        rank,
        tensors,
    });
    Ok(adapter)
}
