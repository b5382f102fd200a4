//! One compare lane's worker as the page sees it, as plain data: which lane,
//! the model's loading status, what the worker is doing, how a plain chat
//! answer ended, and a session adapter. The page keeps these in signals
//! (`crate::app::state` re-exports them); the event reducer
//! (`super::lane_events`) computes their transitions natively.

use crate::engine::StopReason;

/// One of the two side-by-side settings of compare mode; `A` is the only
/// one outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    A,
    B,
}

impl Lane {
    pub const BOTH: [Lane; 2] = [Lane::A, Lane::B];

    pub fn index(self) -> usize {
        match self {
            Lane::A => 0,
            Lane::B => 1,
        }
    }

    pub fn letter(self) -> &'static str {
        match self {
            Lane::A => "A",
            Lane::B => "B",
        }
    }
}

/// How an answer ended, with its speed (shown under the answer).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnswerStats {
    pub tokens: usize,
    pub tokens_per_second: f64,
    pub prefill_tokens_per_second: f64,
    pub prompt_tokens: usize,
    /// Prompt positions taken from the prefix cache.
    pub cached_positions: usize,
    pub stop: StopReason,
    /// The backend that wrote it ("WebGPU (SwiftShader)").
    pub backend: String,
}

/// The model's loading status (per worker).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LoadStatus {
    /// The worker is not started (the compare worker before compare mode).
    Off,
    /// The worker is starting.
    Starting,
    Downloading {
        loaded: f64,
        total: Option<f64>,
        from_cache: bool,
        started_ms: f64,
    },
    /// All bytes are in; the worker is parsing the GGUF and preparing weights.
    Preparing {
        from_cache: bool,
    },
    Ready {
        /// The backend's own name ("cpu (simd128)").
        backend: String,
        /// What the page shows ("WebGPU (SwiftShader)", "CPU (wasm simd128)").
        label: String,
        /// Why the CPU runs although WebGPU was wanted.
        not_gpu: Option<String>,
        /// The CPU backend's threads, and why fewer than the page wanted.
        threads: usize,
        threads_note: Option<String>,
        load_ms: f64,
        cache: String,
        bytes: f64,
    },
    Failed,
}

impl LoadStatus {
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self, LoadStatus::Ready { .. })
    }

    /// The running backend's label, once ready.
    pub(crate) fn label(&self) -> Option<String> {
        match self {
            LoadStatus::Ready { label, .. } => Some(label.clone()),
            _ => None,
        }
    }

    /// Whether the model runs on WebGPU.
    pub(crate) fn on_gpu(&self) -> bool {
        matches!(self, LoadStatus::Ready { label, .. } if is_gpu_label(label))
    }
}

/// Whether a backend label names WebGPU (the worker writes "WebGPU (…)").
pub(crate) fn is_gpu_label(label: &str) -> bool {
    label.starts_with("WebGPU")
}

/// What a worker is doing, if anything.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GenStatus {
    Idle,
    /// Sent; waiting for the prompt to be processed.
    Prefill {
        prompt_tokens: Option<usize>,
    },
    Streaming,
    /// Cancel pressed; waiting for the worker to stop.
    Cancelling,
    /// An axis probe or an adapter check (not an answer).
    Job,
}

impl GenStatus {
    pub(crate) fn is_busy(&self) -> bool {
        !matches!(self, GenStatus::Idle)
    }

    /// Writing an answer (not a probe or adapter job).
    pub(crate) fn is_answering(&self) -> bool {
        self.is_busy() && *self != GenStatus::Job
    }

    /// What a cancel does: the status it moves to, and whether the worker
    /// must be told (None: nothing to cancel, or a cancel already sent).
    pub(crate) fn cancel(&self) -> Option<GenStatus> {
        match self {
            GenStatus::Idle | GenStatus::Cancelling => None,
            // A probe or adapter check stops by itself; the status stays.
            GenStatus::Job => Some(GenStatus::Job),
            _ => Some(GenStatus::Cancelling),
        }
    }
}

/// An adapter of this session: shipped with the page or picked from disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Adapter {
    pub name: String,
    /// The workers' adapter id, once checked and loaded.
    pub id: usize,
    pub rank: usize,
    pub tensors: usize,
    /// `adapters/NAME` for a shipped one; None for files from disk.
    pub shipped: Option<String>,
}
