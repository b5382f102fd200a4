//! Fetching the model: the Cache API first (`persona-models`), the network
//! otherwise, with the body read chunk by chunk so the page sees progress.
//! A network download is teed into the cache while it streams; when storing
//! fails (quota, private mode) the model still loads from memory and the
//! outcome says why. A stored copy the engine then rejects (truncated, not
//! a GGUF) is removed again by the caller (`forget`).

use js_sys::{Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, Response, WorkerGlobalScope};

use super::engine_error::WorkerError;
use super::protocol::ErrorKind;

/// Name of the Cache API bucket holding model files.
pub(crate) const CACHE_NAME: &str = "persona-models";

/// Where the bytes came from, as reported in `ready.cache`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CacheOutcome {
    Hit,
    Stored,
    MemoryOnly(String),
}

impl CacheOutcome {
    pub(crate) fn label(&self) -> String {
        match self {
            CacheOutcome::Hit => "hit".into(),
            CacheOutcome::Stored => "stored".into(),
            CacheOutcome::MemoryOnly(reason) => format!("memory-only ({reason})"),
        }
    }
}

pub(crate) struct Loaded {
    pub bytes: Vec<u8>,
    pub cache: CacheOutcome,
}

/// Called with (bytes so far, total if known, from cache).
pub(crate) type Progress<'a> = &'a mut dyn FnMut(f64, Option<f64>, bool);

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// A readable reason from a thrown JS value (DOMException, TypeError, string).
pub(crate) fn js_reason(value: &JsValue) -> String {
    if let Some(s) = value.as_string() {
        return s;
    }
    let name = Reflect::get(value, &"name".into())
        .ok()
        .and_then(|v| v.as_string());
    let message = Reflect::get(value, &"message".into())
        .ok()
        .and_then(|v| v.as_string());
    match (name, message) {
        (Some(n), Some(m)) if !m.is_empty() => format!("{n}: {m}"),
        (Some(n), _) => n,
        (None, Some(m)) => m,
        (None, None) => format!("{value:?}"),
    }
}

async fn open_cache() -> Result<Cache, String> {
    let caches = scope()
        .caches()
        .map_err(|e| format!("Cache API unavailable: {}", js_reason(&e)))?;
    let cache = JsFuture::from(caches.open(CACHE_NAME))
        .await
        .map_err(|e| format!("cannot open the cache: {}", js_reason(&e)))?;
    Ok(cache.unchecked_into())
}

fn content_length(response: &Response) -> Option<f64> {
    response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<f64>().ok())
}

/// Reads a whole response body, reporting progress as chunks arrive.
async fn read_body(
    response: &Response,
    from_cache: bool,
    progress: Progress<'_>,
) -> Result<Vec<u8>, String> {
    let total = content_length(response);
    let body = response
        .body()
        .ok_or_else(|| "the response has no body".to_string())?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes: Vec<u8> = Vec::with_capacity(total.unwrap_or(0.0) as usize);
    progress(0.0, total, from_cache);
    let mut last_report = 0.0f64;
    loop {
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| format!("reading the body failed: {}", js_reason(&e)))?;
        let done = Reflect::get(&chunk, &"done".into())
            .map(|v| v.is_truthy())
            .unwrap_or(true);
        if done {
            break;
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into())
            .map_err(|e| js_reason(&e))?
            .unchecked_into();
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        let loaded = bytes.len() as f64;
        // Report about every 0.5% (or 512 KiB without a total), not every chunk.
        let step = total.map(|t| t / 200.0).unwrap_or(524_288.0);
        if loaded - last_report >= step {
            last_report = loaded;
            progress(loaded, total, from_cache);
        }
    }
    progress(bytes.len() as f64, total, from_cache);
    if let Some(t) = total {
        if (bytes.len() as f64) < t {
            return Err(format!(
                "the download stopped at {} of {} bytes",
                bytes.len(),
                t as u64
            ));
        }
    }
    Ok(bytes)
}

/// Removes `url` from the model cache (a cached copy that turned out unusable).
pub(crate) async fn forget(url: &str) {
    if let Ok(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
}

/// The model bytes at `url`, from the cache when it holds them (unless
/// `skip_cache`), else from the network.
pub(crate) async fn load_model(
    url: &str,
    skip_cache: bool,
    progress: Progress<'_>,
) -> Result<Loaded, WorkerError> {
    let cache = open_cache().await;
    if let (Ok(cache), false) = (&cache, skip_cache) {
        if let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await {
            if let Ok(response) = hit.dyn_into::<Response>() {
                match read_body(&response, true, progress).await {
                    Ok(bytes) => {
                        return Ok(Loaded {
                            bytes,
                            cache: CacheOutcome::Hit,
                        })
                    }
                    Err(reason) => {
                        web_sys::console::warn_1(
                            &format!("cached model unreadable ({reason}); downloading again")
                                .into(),
                        );
                        let _ = JsFuture::from(cache.delete_with_str(url)).await;
                    }
                }
            }
        }
    }

    let response: Response = JsFuture::from(scope().fetch_with_str(url))
        .await
        .map_err(|e| {
            WorkerError::new(
                ErrorKind::ModelFetch,
                format!(
                    "could not download the model from {url} ({}); check the connection and reload the page",
                    js_reason(&e)
                ),
            )
        })?
        .unchecked_into();
    if !response.ok() {
        return Err(WorkerError::new(
            ErrorKind::ModelFetch,
            format!(
                "the model file {url} answered HTTP {} {}; make sure it is served with the page (scripts/setup.sh model, then rebuild) and reload",
                response.status(),
                response.status_text()
            ),
        ));
    }

    // Tee the download into the cache while we read it ourselves.
    let store = match &cache {
        Ok(cache) => match response.clone() {
            Ok(copy) => Ok(JsFuture::from(cache.put_with_str(url, &copy))),
            Err(e) => Err(format!("cannot copy the response: {}", js_reason(&e))),
        },
        Err(reason) => Err(reason.clone()),
    };
    let bytes = read_body(&response, false, progress)
        .await
        .map_err(|reason| {
            WorkerError::new(
                ErrorKind::ModelFetch,
                format!("downloading the model failed: {reason}; reload the page to try again"),
            )
        })?;
    let cache = match store {
        Ok(put) => match put.await {
            Ok(_) => CacheOutcome::Stored,
            Err(e) => CacheOutcome::MemoryOnly(js_reason(&e)),
        },
        Err(reason) => CacheOutcome::MemoryOnly(reason),
    };
    Ok(Loaded { bytes, cache })
}
