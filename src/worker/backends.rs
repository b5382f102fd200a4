//! The two compute backends the worker can hold: [`AnyEngine`] is an engine
//! over the CPU backend (wasm simd128) or the WebGPU backend, and
//! [`WorkerBackend`] is what the worker's generic job code needs beyond the
//! `Backend` trait (adding an adapter, and the `lose_device` test hook).
//! Labels for the page ("WebGPU (SwiftShader)", "CPU (wasm simd128)").

use crate::backend::cpu::CpuBackend;
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::{AdapterId, Backend};
use crate::engine::Engine;
use crate::model::lora::LoraAdapter;
use crate::Result;

/// A backend the worker's jobs run on.
pub(crate) trait WorkerBackend: Backend {
    /// Adds a checked adapter; ids count up from 0 in the order added.
    fn add_adapter(&mut self, adapter: LoraAdapter) -> Result<AdapterId>;
    /// Test hook: destroys the GPU device, so every later call fails with
    /// `Error::DeviceLost` (nothing to lose on the CPU).
    fn lose_device(&self);
}

impl WorkerBackend for CpuBackend {
    fn add_adapter(&mut self, adapter: LoraAdapter) -> Result<AdapterId> {
        Ok(CpuBackend::add_adapter(self, adapter))
    }
    fn lose_device(&self) {}
}

impl WorkerBackend for WebGpuBackend {
    fn add_adapter(&mut self, adapter: LoraAdapter) -> Result<AdapterId> {
        WebGpuBackend::add_adapter(self, adapter)
    }
    fn lose_device(&self) {
        WebGpuBackend::lose_device(self)
    }
}

/// The loaded engine, on whichever backend was chosen (boxed: both are
/// large, and of different sizes).
pub(crate) enum AnyEngine {
    Cpu(Box<Engine<CpuBackend>>),
    Gpu(Box<Engine<WebGpuBackend>>),
}

impl AnyEngine {
    /// Sets the prefix cache's budget (`Engine::set_cache_mb`).
    pub(crate) fn set_cache_mb(&mut self, mb: f64) -> crate::Result<()> {
        match self {
            AnyEngine::Cpu(e) => e.set_cache_mb(mb),
            AnyEngine::Gpu(e) => e.set_cache_mb(mb),
        }
    }

    /// The backend's own name ("cpu (simd128)", "webgpu (BrowserWebGpu: ...)").
    pub(crate) fn backend_name(&self) -> String {
        match self {
            AnyEngine::Cpu(e) => e.backend.name(),
            AnyEngine::Gpu(e) => e.backend.name(),
        }
    }
}

/// "CPU (wasm simd128)" for the CPU backend named "cpu (simd128)".
pub(crate) fn cpu_label(name: &str) -> String {
    match name.strip_prefix("cpu (").and_then(|k| k.strip_suffix(')')) {
        Some(kernel) => format!("CPU (wasm {kernel})"),
        None => format!("CPU ({name})"),
    }
}

/// "WebGPU (SwiftShader)", or the adapter's description, or its vendor and
/// architecture, from what `GPUAdapter.info` says.
pub(crate) fn gpu_label(vendor: &str, architecture: &str, description: &str) -> String {
    let what = if architecture.eq_ignore_ascii_case("swiftshader")
        || description.to_lowercase().contains("swiftshader")
    {
        "SwiftShader".to_string()
    } else if !description.trim().is_empty() {
        description.trim().to_string()
    } else {
        let parts: Vec<&str> = [vendor, architecture]
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            "unnamed adapter".to_string()
        } else {
            parts.join(" ")
        }
    };
    format!("WebGPU ({what})")
}
