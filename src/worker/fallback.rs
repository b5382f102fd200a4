//! The switch to the CPU after the GPU device was lost (a driver reset, an
//! uncaptured error, or the `lose_device` test command): the CPU engine is
//! built from the GGUF kept since the WebGPU load, the session's adapters
//! are added again in the same order (so their ids still agree with the
//! page and with the other compare worker), and the page is told with a
//! `backend_lost` event before the failed request runs again on the CPU
//! (with the exact kernels, the math WebGPU computed).

use super::backends::{cpu_label, WorkerBackend};
use super::choice::cpu_engine;
use super::engine_error::WorkerError;
use super::protocol::{ErrorKind, Event};
use crate::backend::cpu::{CpuBackend, WeightMode};
use crate::backend::Backend;
use crate::engine::Engine;
use crate::model::lora::LoraAdapter;
use crate::model::GgufFile;

/// The CPU engine that replaces a lost WebGPU one; posts `backend_lost`.
pub(crate) fn to_cpu(
    file: Option<GgufFile>,
    adapters: &[LoraAdapter],
    reason: &str,
    post: &dyn Fn(&Event),
) -> Result<Engine<CpuBackend>, WorkerError> {
    let cannot = |why: String| {
        WorkerError::new(
            ErrorKind::DeviceLost,
            format!("the GPU was lost ({reason}) and the CPU could not take over: {why}; reload the page"),
        )
    };
    let file = file.ok_or_else(|| cannot("the model is no longer in memory".into()))?;
    // The exact kernels: WebGPU computes the dequantized model's math, and
    // the answers it gave go on in the same math.
    let mut engine = cpu_engine(&file, WeightMode::Quantized).map_err(|e| cannot(e.to_string()))?;
    for adapter in adapters {
        WorkerBackend::add_adapter(&mut engine.backend, adapter.clone())
            .map_err(|e| cannot(format!("adapter {}: {e}", adapter.name)))?;
    }
    let backend = engine.backend.name();
    post(&Event::BackendLost {
        label: cpu_label(&backend),
        backend,
        reason: reason.to_string(),
    });
    Ok(engine)
}
