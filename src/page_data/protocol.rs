//! The messages between the page and the model worker, as serde types both
//! sides share. They cross `postMessage` as plain JS objects (serde-wasm-bindgen,
//! in `crate::worker::protocol`) tagged by `type`, e.g. `{type: "load", url}`
//! or `{type: "token", text, ...}`. Pure data: compiled natively too, for the
//! tests and fuzz targets.
//! The files of an `add_adapter` command travel beside it, as the message's
//! `files` property (see [`FILES_KEY`]): `File` objects are not serde data.
//! An `error` event's kind is an [`ErrorKind`] (its snake_case code on the
//! wire), which the page's own banners use too.

use serde::{Deserialize, Serialize};

use crate::engine::{GenerationSummary, Sampling};
use crate::model::ChatMessage;
use crate::page_data::kernel_choice::KernelChoice;
use crate::steer::probe::AxisScore;
use crate::steer::{Event as SteerEvent, RunConfig};

/// The property of an `add_adapter` message that holds the picked `File`s.
pub(crate) const FILES_KEY: &str = "files";

fn one_thread() -> usize {
    1
}

/// Page → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Command {
    /// Fetch the GGUF at `url` (Cache API first) and load it onto the
    /// `backend` asked for (`?backend=` in the page's address).
    Load {
        url: String,
        #[serde(default)]
        backend: BackendChoice,
        /// The prefix cache's budget in MiB (`?cache_mb=`; none: the
        /// engine's default), checked by the page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_mb: Option<f64>,
        /// The CPU backend's threads (`page_data::thread_plan`; the threaded
        /// build starts a pool of this many, the plain build runs one).
        #[serde(default = "one_thread")]
        threads: usize,
        /// Why the page asked for fewer threads than it wanted (said back
        /// in `ready`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        threads_note: Option<String>,
        /// The CPU kernel family (`?kernels=`; int8 when absent).
        #[serde(default)]
        kernels: KernelChoice,
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
    /// The pole contrast: each configuration (the same question at α = −1,
    /// 0, +1 for one expert) answered in turn, then probed on `axis`;
    /// answered with `contrast_answer`, `contrast_probe` and one
    /// `contrast_done`.
    Contrast(ContrastRequest),
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
pub(crate) enum BackendChoice {
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
pub(crate) struct ProbeRequest {
    pub config: RunConfig,
    pub per_axis: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContrastRequest {
    /// One configuration per column, in order.
    pub configs: Vec<RunConfig>,
    /// The MBTI axis whose shipped probe items score every column (none:
    /// the expert has no probe axis, so no bars).
    #[serde(default)]
    pub axis: Option<String>,
    pub per_axis: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AdapterRequest {
    pub name: String,
    pub source: AdapterSource,
}

/// Where an adapter's two files come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AdapterSource {
    /// Files the user picked; the `File` objects ride in the message's `files`.
    Files,
    /// A folder served with the page (`adapters/NAME/`), holding
    /// `adapter_config.json` and `adapter_model.safetensors`.
    Url { base: String },
}

/// A steering run: the whole configuration (method, persona, weighted
/// experts, settings), validated by the engine before any compute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunRequest {
    pub config: RunConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GenerateRequest {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub messages: Option<Vec<ChatMessage>>,
    #[serde(default)]
    pub user: Option<String>,
    pub max_tokens: usize,
    pub sampling: Sampling,
}

/// Worker → page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Event {
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
    /// "stored", "hit" or "memory-only (reason)". `threads`: the CPU
    /// backend's threads, `threads_note` why fewer than the page wanted.
    Ready {
        backend: String,
        label: String,
        #[serde(default)]
        not_gpu: Option<String>,
        #[serde(default = "one_thread")]
        threads: usize,
        #[serde(default)]
        threads_note: Option<String>,
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
    /// A pole contrast column's answer so far (the whole text), and whether
    /// it is finished.
    ContrastAnswer {
        column: usize,
        text: String,
        done: bool,
    },
    /// A column's probe score on the contrast's axis, or why there is none.
    ContrastProbe {
        column: usize,
        #[serde(default)]
        score: Option<AxisScore>,
        #[serde(default)]
        note: Option<String>,
    },
    /// The pole contrast finished (or was cancelled).
    ContrastDone { cancelled: bool },
    /// An adapter passed every check and is now expert `id` of this worker.
    AdapterAdded {
        name: String,
        id: usize,
        rank: usize,
        tensors: usize,
    },
    /// Something failed; `kind` says what sort of failure (on the wire its
    /// snake_case code: "invalid_input", "model_fetch", "busy", "panic", ...)
    /// and `message` what happened.
    Error { kind: ErrorKind, message: String },
}

impl Event {
    pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Self {
        Event::Error {
            kind,
            message: message.into(),
        }
    }
}

/// What sort of failure an error is: the `kind` of an `error` event, and the
/// page's own banners. On the wire (and in `data-kind` on the banner) each is
/// its snake_case code, e.g. `ModelFetch` is `"model_fetch"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ErrorKind {
    // The engine's errors (`crate::Error`, see `From<&crate::Error>`).
    ModelFile,
    UnsupportedModel,
    Tokenizer,
    Template,
    InvalidInput,
    ContextOverflow,
    Backend,
    DeviceLost,
    // The worker's own.
    /// The model could not be downloaded.
    ModelFetch,
    /// A request came before the model was loaded.
    NotReady,
    /// A request came while another one runs.
    Busy,
    /// A message the worker could not read.
    BadCommand,
    /// The worker panicked and is dying.
    Panic,
    /// An adapter failed its checks.
    Adapter,
    // The page's own.
    InvalidSettings,
    TraceFile,
    Clipboard,
    BackendParam,
    UrlAlpha,
    UrlWeights,
    UrlParam,
    WebgpuUnavailable,
    GpuLost,
    WorkerCrashed,
    WorkerGaveUp,
    /// A code this build does not know (read from a newer worker).
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub(crate) const ALL: [ErrorKind; 26] = [
        Self::ModelFile,
        Self::UnsupportedModel,
        Self::Tokenizer,
        Self::Template,
        Self::InvalidInput,
        Self::ContextOverflow,
        Self::Backend,
        Self::DeviceLost,
        Self::ModelFetch,
        Self::NotReady,
        Self::Busy,
        Self::BadCommand,
        Self::Panic,
        Self::Adapter,
        Self::InvalidSettings,
        Self::TraceFile,
        Self::Clipboard,
        Self::BackendParam,
        Self::UrlAlpha,
        Self::UrlWeights,
        Self::UrlParam,
        Self::WebgpuUnavailable,
        Self::GpuLost,
        Self::WorkerCrashed,
        Self::WorkerGaveUp,
        Self::Unknown,
    ];

    /// The wire code ("model_fetch").
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ModelFile => "model_file",
            Self::UnsupportedModel => "unsupported_model",
            Self::Tokenizer => "tokenizer",
            Self::Template => "template",
            Self::InvalidInput => "invalid_input",
            Self::ContextOverflow => "context_overflow",
            Self::Backend => "backend",
            Self::DeviceLost => "device_lost",
            Self::ModelFetch => "model_fetch",
            Self::NotReady => "not_ready",
            Self::Busy => "busy",
            Self::BadCommand => "bad_command",
            Self::Panic => "panic",
            Self::Adapter => "adapter",
            Self::InvalidSettings => "invalid_settings",
            Self::TraceFile => "trace_file",
            Self::Clipboard => "clipboard",
            Self::BackendParam => "backend_param",
            Self::UrlAlpha => "url_alpha",
            Self::UrlWeights => "url_weights",
            Self::UrlParam => "url_param",
            Self::WebgpuUnavailable => "webgpu_unavailable",
            Self::GpuLost => "gpu_lost",
            Self::WorkerCrashed => "worker_crashed",
            Self::WorkerGaveUp => "worker_gave_up",
            Self::Unknown => "unknown",
        }
    }

    /// The model file could not be had or used: loading fails for good,
    /// and the banner offers "Try again".
    pub(crate) fn is_model_load(self) -> bool {
        matches!(
            self,
            Self::ModelFetch
                | Self::ModelFile
                | Self::UnsupportedModel
                | Self::Tokenizer
                | Self::Template
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorKind {
    /// The kind with this wire code; [`ErrorKind::Unknown`] for any other.
    fn from(code: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == code)
            .unwrap_or(Self::Unknown)
    }
}

impl From<&crate::Error> for ErrorKind {
    fn from(e: &crate::Error) -> Self {
        use crate::Error;
        match e {
            Error::ModelFile(_) => Self::ModelFile,
            Error::UnsupportedModel(_) => Self::UnsupportedModel,
            Error::Tokenizer(_) => Self::Tokenizer,
            Error::Template(_) => Self::Template,
            Error::InvalidInput(_) => Self::InvalidInput,
            Error::ContextOverflow { .. } => Self::ContextOverflow,
            Error::Backend(_) => Self::Backend,
            Error::DeviceLost(_) => Self::DeviceLost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_keep_their_wire_codes() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
            assert_eq!(ErrorKind::from(kind.as_str()), kind);
        }
        // The codes the e2e suites and older traces rely on.
        for (kind, code) in [
            (ErrorKind::ModelFetch, "model_fetch"),
            (ErrorKind::GpuLost, "gpu_lost"),
            (ErrorKind::WebgpuUnavailable, "webgpu_unavailable"),
            (ErrorKind::WorkerCrashed, "worker_crashed"),
            (ErrorKind::ContextOverflow, "context_overflow"),
        ] {
            assert_eq!(kind.as_str(), code);
        }
        let unknown: ErrorKind = serde_json::from_str("\"from_the_future\"").unwrap();
        assert_eq!(unknown, ErrorKind::Unknown);
        assert_eq!(ErrorKind::from("from_the_future"), ErrorKind::Unknown);
    }

    #[test]
    fn error_events_round_trip() {
        let event = Event::error(ErrorKind::GpuLost, "the GPU was lost");
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "error", "kind": "gpu_lost", "message": "the GPU was lost"})
        );
        match serde_json::from_value::<Event>(json).unwrap() {
            Event::Error { kind, message } => {
                assert_eq!(kind, ErrorKind::GpuLost);
                assert_eq!(message, "the GPU was lost");
            }
            other => panic!("not an error event: {other:?}"),
        }
    }

    #[test]
    fn engine_errors_keep_their_kind() {
        for e in [
            crate::Error::InvalidInput("x".into()),
            crate::Error::DeviceLost("x".into()),
            crate::Error::ContextOverflow {
                tokens: 9000,
                context: 8192,
            },
        ] {
            assert_eq!(ErrorKind::from(&e).as_str(), e.kind());
        }
    }

    /// The page still names some kinds by their code (`show_error("url_alpha", ..)`):
    /// each such code in `src/app` must be a known kind.
    #[test]
    fn page_error_codes_are_known_kinds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/app");
        let mut files = vec![std::path::PathBuf::from(dir)];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (at, _) in text.match_indices("show_error(") {
                let rest = text[at + "show_error(".len()..].trim_start();
                let Some(rest) = rest.strip_prefix('"') else {
                    continue;
                };
                let code = &rest[..rest.find('"').unwrap()];
                assert_ne!(
                    ErrorKind::from(code),
                    ErrorKind::Unknown,
                    "{}: show_error(\"{code}\") is not an ErrorKind",
                    path.display()
                );
            }
        }
    }
}
