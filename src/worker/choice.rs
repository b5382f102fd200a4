//! Which backend the worker loads the model onto. By default WebGPU when
//! `navigator.gpu` gives a hardware adapter and `Engine::load_webgpu`
//! succeeds (it checks the limits it needs), else the CPU backend with the
//! reason recorded (a software adapter is slower than the CPU:
//! `page_data::adapter_choice`); the page may force either (`?backend=cpu|webgpu`). A forced
//! WebGPU that cannot start still falls back to the CPU, and the page says
//! why. On WebGPU the parsed GGUF is kept, so a lost device can be replaced
//! by the CPU backend without reading the model again (`fallback`).

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::WorkerGlobalScope;

use super::backends::{cpu_label, gpu_label, AnyEngine};
use super::loader::js_reason;
use super::protocol::BackendChoice;
use crate::backend::cpu::WeightMode;
use crate::backend::Backend;
use crate::engine::Engine;
use crate::model::GgufFile;
use crate::page_data::adapter_choice::skip_reason;
use crate::page_data::kernel_choice::KernelChoice;

/// A loaded engine and what the page is told about it.
pub(crate) struct Started {
    pub engine: AnyEngine,
    /// "WebGPU (SwiftShader)", "CPU (wasm simd128)".
    pub label: String,
    /// Why the CPU runs although WebGPU was wanted (None otherwise).
    pub not_gpu: Option<String>,
    /// The model, kept while on WebGPU for a CPU fallback.
    pub file: Option<GgufFile>,
}

/// Loads `file` onto the backend `choice` asks for. Fails only when the CPU
/// backend cannot load it (a damaged model file); a WebGPU failure becomes
/// the `not_gpu` reason.
pub(crate) async fn start(
    file: GgufFile,
    choice: BackendChoice,
    kernels: KernelChoice,
) -> crate::Result<Started> {
    let not_gpu = match choice {
        BackendChoice::Cpu => None,
        BackendChoice::Auto | BackendChoice::Webgpu => match adapter_label().await {
            Err(reason) => Some(reason),
            Ok(Adapter {
                skip: Some(reason), ..
            }) if choice == BackendChoice::Auto => Some(reason),
            Ok(Adapter { label, .. }) => match Engine::load_webgpu(&file).await {
                Ok(engine) => {
                    return Ok(Started {
                        engine: AnyEngine::Gpu(Box::new(engine)),
                        label,
                        not_gpu: None,
                        file: Some(file),
                    })
                }
                Err(e) => Some(format!("WebGPU could not start ({label}): {e}")),
            },
        },
    };
    let engine = cpu_engine(&file, kernels.weight_mode())?;
    Ok(Started {
        label: cpu_label(&engine.backend.name()),
        engine: AnyEngine::Cpu(Box::new(engine)),
        not_gpu,
        file: None,
    })
}

/// The CPU engine (quantized weights, `mode`'s kernels) of `file`.
pub(crate) fn cpu_engine(
    file: &GgufFile,
    mode: WeightMode,
) -> crate::Result<Engine<crate::backend::cpu::CpuBackend>> {
    Engine::load_cpu(file, mode)
}

fn get(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn text(target: &JsValue, key: &str) -> String {
    get(target, key).as_string().unwrap_or_default()
}

/// The adapter `navigator.gpu.requestAdapter()` gives: its label, and why
/// the automatic choice passes it over (a software renderer), if it does.
struct Adapter {
    label: String,
    skip: Option<String>,
}

/// The adapter `navigator.gpu.requestAdapter()` gives, or why there is none.
async fn adapter_label() -> Result<Adapter, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let gpu = get(&scope.navigator(), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser offers no WebGPU (navigator.gpu is missing)".into());
    }
    let request: Function = get(&gpu, "requestAdapter")
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function".to_string())?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("navigator.gpu.requestAdapter() failed: {}", js_reason(&e)))?
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter() returned no promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("navigator.gpu.requestAdapter() failed: {}", js_reason(&e)))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU offers no adapter (no usable GPU, or WebGPU is blocked; headless Chromium needs --enable-unsafe-webgpu)".into());
    }
    let info = get(&adapter, "info");
    let (vendor, architecture, description) = (
        text(&info, "vendor"),
        text(&info, "architecture"),
        text(&info, "description"),
    );
    // `isFallbackAdapter`: on the info in current browsers, on the adapter before.
    let fallback = get(&info, "isFallbackAdapter").as_bool() == Some(true)
        || get(&adapter, "isFallbackAdapter").as_bool() == Some(true);
    let label = gpu_label(&vendor, &architecture, &description);
    let skip = skip_reason(&vendor, &architecture, &description, fallback, &label);
    Ok(Adapter { label, skip })
}
