//! The messages between the page and the model worker, as serde types both
//! sides share. They cross `postMessage` as plain JS objects (serde-wasm-bindgen,
//! in `crate::worker::protocol`) tagged by `type`, e.g. `{type: "load", url}`
//! or `{type: "token", text, ...}`. Pure data: compiled natively too, for the
//! tests and fuzz targets.
//! The files of an `add_adapter` command travel beside it, as the message's
//! `files` property (see [`FILES_KEY`]): `File` objects are not serde data.

use serde::{Deserialize, Serialize};

use crate::engine::{GenerationSummary, Sampling};
use crate::steer::probe::AxisScore;
use crate::steer::{Event as SteerEvent, RunConfig};

/// The property of an `add_adapter` message that holds the picked `File`s.
pub const FILES_KEY: &str = "files";

/// Page → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Fetch the GGUF at `url` (Cache API first) and load it onto the
    /// `backend` asked for (`?backend=` in the page's address).
    Load {
        url: String,
        #[serde(default)]
        backend: BackendChoice,
    },
    /// Answer a chat; `messages` (multi-turn) wins over `user` (one turn).
    Generate(GenerateRequest),
    /// Run one steering method (`crate::steer::run`) on one user message;
    /// answered with `trace` events and, on success, a final `trace` `done`.
    Run(RunRequest),
    /// Axis probes (`crate::steer::probe`) of one configuration on the first
    /// `per_axis` shipped items of each MBTI axis; answered with
    /// `probe_progress` events and one `probe_done`.
    Probe(ProbeRequest),
    /// Validate a PEFT LoRA adapter and keep it as an expert for this
    /// session; answered with `adapter_added` or an `error` of kind `adapter`.
    AddAdapter(AdapterRequest),
    /// Stop the answer (or probe) in progress after the current forward.
    Cancel,
    /// Test hook (the e2e tests post it straight to the worker): destroy
    /// the GPU device now, or before the next forward when a job holds the
    /// engine, as a driver reset would. Nothing happens on the CPU backend.
    LoseDevice,
}

/// The backend the page asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// WebGPU when it starts, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// WebGPU; still the CPU (with the reason) when WebGPU cannot start.
    Webgpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;

    /// The `?backend=` value: `cpu`, `webgpu` or `auto` (any case).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "webgpu" => Ok(Self::Webgpu),
            other => Err(format!(
                "?backend={other} is not a backend; use ?backend=webgpu or ?backend=cpu (or leave it out to choose automatically). Choosing automatically."
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRequest {
    pub config: RunConfig,
    pub per_axis: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdapterRequest {
    pub name: String,
    pub source: AdapterSource,
}

/// Where an adapter's two files come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdapterSource {
    /// Files the user picked; the `File` objects ride in the message's `files`.
    Files,
    /// A folder served with the page (`adapters/NAME/`), holding
    /// `adapter_config.json` and `adapter_model.safetensors`.
    Url { base: String },
}

/// A steering run: the whole configuration (method, persona, weighted
/// experts, settings), validated by the engine before any compute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    pub config: RunConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerateRequest {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    pub user: Option<String>,
    pub max_tokens: usize,
    pub sampling: Sampling,
}

/// One chat turn (`role` is "user" or "assistant").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireMessage {
    pub role: String,
    pub content: String,
}

/// Worker → page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The worker's wasm is running and listening (messages sent earlier are lost).
    Alive,
    /// Model bytes received so far; `total` is None without a Content-Length.
    Progress {
        loaded: f64,
        total: Option<f64>,
        from_cache: bool,
    },
    /// The model is loaded. `backend` is the backend's own name, `label`
    /// what the page shows ("WebGPU (SwiftShader)", "CPU (wasm simd128)"),
    /// `not_gpu` why the CPU runs although WebGPU was wanted. `cache` is
    /// "stored", "hit" or "memory-only (reason)".
    Ready {
        backend: String,
        label: String,
        #[serde(default)]
        not_gpu: Option<String>,
        load_ms: f64,
        cache: String,
        bytes: f64,
    },
    /// The GPU device was lost (`reason`); the worker now runs on the CPU
    /// backend (`backend`, `label`) with the same adapters, and runs the
    /// request that failed again from its start.
    BackendLost {
        backend: String,
        label: String,
        reason: String,
    },
    /// The prompt was tokenized; prefill starts.
    Started { prompt_tokens: usize },
    /// One generated token; `tokens_per_second` is the live decode rate so far.
    Token {
        index: usize,
        id: u32,
        text: String,
        logprob: f32,
        tokens_per_second: Option<f64>,
    },
    /// The answer finished (end of turn, max tokens, context full or cancelled).
    Done { summary: GenerationSummary },
    /// One event of a steering run (importance, token, chunk, done), as the
    /// engine emits it; `proposed_text` holds the decoded text of each
    /// proposed token of a `chunk` event (empty otherwise). A cancelled run
    /// ends with a `done` whose `stop_reason` is "cancelled".
    Trace {
        event: SteerEvent,
        #[serde(default)]
        proposed_text: Vec<String>,
        /// On the final `done`: ms from the end of the prompts' prefill to
        /// the end of the run (the decode-only time).
        #[serde(default)]
        decode_ms: Option<f64>,
    },
    /// Probe items scored so far.
    ProbeProgress { done: usize, total: usize },
    /// The probe's accuracy and margin per axis (empty when cancelled).
    ProbeDone {
        axes: Vec<AxisScore>,
        cancelled: bool,
    },
    /// An adapter passed every check and is now expert `id` of this worker.
    AdapterAdded {
        name: String,
        id: usize,
        rank: usize,
        tensors: usize,
    },
    /// Something failed; `kind` is a short code ("invalid_input", "model_fetch",
    /// "busy", "panic", ...) and `message` says what happened.
    Error { kind: String, message: String },
}

impl Event {
    pub fn error(kind: &str, message: impl Into<String>) -> Self {
        Event::Error {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}
