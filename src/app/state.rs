//! The page's state as signals: the conversation, the model loading status
//! of each worker, the answers in progress, the error banner, the settings
//! (shared ones, and per compare lane the method and its weights), the
//! session's adapters, the axis probe and the backend asked for. One `AppState` (all `Copy`
//! handles) is provided as context to every component. The plain data it
//! holds (a lane's statuses, the banner) lives in `crate::page_data`,
//! re-exported here.

use leptos::prelude::*;

use super::steer_trace::SteerTrace;
use crate::page_data::banner::describe;
pub(crate) use crate::page_data::banner::Banner;
pub(crate) use crate::page_data::lane::{
    is_gpu_label, Adapter, AnswerStats, GenStatus, Lane, LoadStatus,
};
use crate::page_data::protocol::ErrorKind;
use crate::steer::probe::AxisScore;

use crate::model::ChatMessage;
pub(crate) use crate::model::Role;
use crate::page_data::kernel_choice::KernelChoice;
use crate::steer::Method;
use crate::worker::protocol::BackendChoice;

/// One message of the conversation. `text` grows token by token.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    pub id: u64,
    pub role: Role,
    pub text: ArcRwSignal<String>,
    /// Set when the answer is finished (plain chat answers only).
    pub stats: ArcRwSignal<Option<AnswerStats>>,
    /// Live decode speed while streaming.
    pub live_tps: ArcRwSignal<Option<f64>>,
    /// True while any lane of the answer is still being written.
    pub streaming: ArcRwSignal<bool>,
    /// Set for answers of a steering method (lane A, and B in compare mode).
    pub steer: Option<SteerTrace>,
    pub compare: Option<SteerTrace>,
}

impl Turn {
    pub(crate) fn new(id: u64, role: Role, text: &str) -> Self {
        Self {
            id,
            role,
            text: ArcRwSignal::new(text.to_string()),
            stats: ArcRwSignal::new(None),
            live_tps: ArcRwSignal::new(None),
            streaming: ArcRwSignal::new(false),
            steer: None,
            compare: None,
        }
    }

    /// The trace of `lane`, if this answer has one.
    pub(crate) fn trace(&self, lane: Lane) -> Option<&SteerTrace> {
        match lane {
            Lane::A => self.steer.as_ref(),
            Lane::B => self.compare.as_ref(),
        }
    }

    /// What the turn says (a steered answer: lane A's text).
    pub(crate) fn content(&self) -> String {
        match &self.steer {
            Some(t) => t.text.get_untracked(),
            None => self.text.get_untracked(),
        }
    }

    /// The turn as a message of the conversation (what the worker and a
    /// steered run's history take).
    pub(crate) fn message(&self) -> ChatMessage {
        ChatMessage::new(self.role, &self.content())
    }

    /// Ends the turn's streaming once no lane is writing any more.
    pub(crate) fn settle(&self) {
        let writing = [&self.steer, &self.compare]
            .into_iter()
            .flatten()
            .any(|t| t.streaming.get_untracked());
        if !writing {
            self.streaming.set(false);
        }
    }
}

/// Settings both lanes share: prompt, sampling, length, persona.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub system: RwSignal<String>,
    pub greedy: RwSignal<bool>,
    pub temperature: RwSignal<String>,
    pub top_p: RwSignal<String>,
    pub seed: RwSignal<String>,
    pub max_tokens: RwSignal<String>,
    /// Index into `Persona::builtin()` (PP, PDD).
    pub persona: RwSignal<usize>,
}

/// One lane's method and its knobs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MethodSettings {
    /// The decoding method; `Base` is the plain multi-turn chat.
    pub method: RwSignal<Method>,
    /// α per expert: the prompt experts in `builtin_experts()` order, then
    /// the session's adapters in the order they were added.
    pub alphas: RwSignal<Vec<f64>>,
    /// SCR chunk size k, PDD's β and top-K, as typed.
    pub k: RwSignal<String>,
    pub beta: RwSignal<String>,
    pub top_k: RwSignal<String>,
    /// SCR's exact preset (the chunk-level MPG target; docs/ALGORITHMS.md).
    pub exact: RwSignal<bool>,
    /// PDD importance weights set with the sliders (None: PIE's).
    pub pdd_weights: RwSignal<Option<Vec<f64>>>,
}

impl MethodSettings {
    /// A lane with the plain chat and `alphas` as its weights.
    fn new(alphas: Vec<f64>) -> Self {
        Self {
            method: RwSignal::new(Method::default()),
            alphas: RwSignal::new(alphas),
            k: RwSignal::new("4".into()),
            beta: RwSignal::new("1.0".into()),
            top_k: RwSignal::new("2".into()),
            exact: RwSignal::new(false),
            pdd_weights: RwSignal::new(None),
        }
    }

    /// Makes this lane a copy of `other`.
    pub(crate) fn copy_from(&self, other: &MethodSettings) {
        self.method.set(other.method.get_untracked());
        self.alphas.set(other.alphas.get_untracked());
        self.k.set(other.k.get_untracked());
        self.beta.set(other.beta.get_untracked());
        self.top_k.set(other.top_k.get_untracked());
        self.exact.set(other.exact.get_untracked());
        self.pdd_weights.set(other.pdd_weights.get_untracked());
    }
}

/// The axis probe panel.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProbeState {
    pub running: bool,
    pub done: usize,
    pub total: usize,
    pub axes: Vec<AxisScore>,
    /// What was probed ("SCR · E +0.6, F +0.4").
    pub label: String,
    pub cancelled: bool,
}

/// One column of the pole contrast: the expert at one α.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ContrastColumn {
    pub alpha: f64,
    /// What ran ("MOD · E −1.0", "Base").
    pub label: String,
    pub text: String,
    pub answered: bool,
    pub probed: bool,
    pub score: Option<AxisScore>,
    /// Why there is no probe bar, or what the bar stands for.
    pub note: Option<String>,
}

/// The pole contrast: one question, one expert at α = −1, 0, +1.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ContrastState {
    pub running: bool,
    pub cancelled: bool,
    pub question: String,
    pub expert: String,
    pub axis: Option<String>,
    pub columns: Vec<ContrastColumn>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct AppState {
    pub turns: RwSignal<Vec<Turn>>,
    /// Loading status and job of each lane's worker.
    pub loads: [RwSignal<LoadStatus>; 2],
    pub gens: [RwSignal<GenStatus>; 2],
    pub banner: RwSignal<Option<Banner>>,
    pub draft: RwSignal<String>,
    pub settings: Settings,
    pub lanes: [MethodSettings; 2],
    /// Compare mode: two lanes answer side by side.
    pub compare: RwSignal<bool>,
    /// The lane the method panel edits.
    pub editing: RwSignal<Lane>,
    pub adapters: RwSignal<Vec<Adapter>>,
    /// The backend `?backend=` asks for (both workers).
    pub backend_choice: StoredValue<BackendChoice>,
    /// The prefix cache's budget from `?cache_mb=` (none: the default).
    pub cache_mb: StoredValue<Option<f64>>,
    /// The CPU kernel family from `?kernels=` (int8 by default).
    pub kernels: StoredValue<KernelChoice>,
    /// The worker threads `?threads=` asks for (none: the page picks).
    pub threads: StoredValue<Option<usize>>,
    /// Whether relaxed-simd may be used where the browser has it
    /// (`?simd=simd128`: no).
    pub relaxed_simd: StoredValue<bool>,
    /// The adapter being checked by the worker, if any.
    pub adapter_job: RwSignal<Option<String>>,
    pub probe: RwSignal<ProbeState>,
    pub contrast: RwSignal<ContrastState>,
    /// Lanes whose last answer waits to be re-run, and the debounce tick.
    pub pending_rerun: StoredValue<[bool; 2]>,
    pub rerun_tick: StoredValue<u64>,
    next_id: StoredValue<u64>,
}

impl AppState {
    /// A fresh page; both lanes start with `alphas` as their weights.
    pub(crate) fn new(alphas: Vec<f64>) -> Self {
        Self {
            turns: RwSignal::new(Vec::new()),
            loads: [
                RwSignal::new(LoadStatus::Starting),
                RwSignal::new(LoadStatus::Off),
            ],
            gens: [
                RwSignal::new(GenStatus::Idle),
                RwSignal::new(GenStatus::Idle),
            ],
            banner: RwSignal::new(None),
            draft: RwSignal::new(String::new()),
            settings: Settings {
                system: RwSignal::new(String::new()),
                greedy: RwSignal::new(true),
                temperature: RwSignal::new("0.7".into()),
                top_p: RwSignal::new("0.9".into()),
                seed: RwSignal::new("42".into()),
                max_tokens: RwSignal::new("256".into()),
                persona: RwSignal::new(0),
            },
            lanes: [
                MethodSettings::new(alphas.clone()),
                MethodSettings::new(alphas),
            ],
            compare: RwSignal::new(false),
            editing: RwSignal::new(Lane::A),
            adapters: RwSignal::new(Vec::new()),
            backend_choice: StoredValue::new(BackendChoice::Auto),
            cache_mb: StoredValue::new(None),
            kernels: StoredValue::new(KernelChoice::Int8),
            threads: StoredValue::new(None),
            relaxed_simd: StoredValue::new(true),
            adapter_job: RwSignal::new(None),
            probe: RwSignal::new(ProbeState::default()),
            contrast: RwSignal::new(ContrastState::default()),
            pending_rerun: StoredValue::new([false; 2]),
            rerun_tick: StoredValue::new(0),
            next_id: StoredValue::new(0),
        }
    }

    pub(crate) fn lane(&self, lane: Lane) -> MethodSettings {
        self.lanes[lane.index()]
    }

    pub(crate) fn load(&self, lane: Lane) -> RwSignal<LoadStatus> {
        self.loads[lane.index()]
    }

    pub(crate) fn gen(&self, lane: Lane) -> RwSignal<GenStatus> {
        self.gens[lane.index()]
    }

    /// Any worker busy (tracked).
    pub(crate) fn busy(&self) -> bool {
        self.gens.iter().any(|g| g.get().is_busy())
    }

    pub(crate) fn busy_untracked(&self) -> bool {
        self.gens.iter().any(|g| g.get_untracked().is_busy())
    }

    /// The lanes that answer: A, and B in compare mode.
    pub(crate) fn active_lanes(&self) -> Vec<Lane> {
        if self.compare.get_untracked() {
            Lane::BOTH.to_vec()
        } else {
            vec![Lane::A]
        }
    }

    pub(crate) fn fresh_id(&self) -> u64 {
        let id = self.next_id.get_value();
        self.next_id.set_value(id + 1);
        id
    }

    /// The assistant turn being written, if any.
    pub(crate) fn streaming_turn(&self) -> Option<Turn> {
        self.turns.with_untracked(|turns| {
            turns
                .last()
                .filter(|t| t.role == Role::Assistant && t.streaming.get_untracked())
                .cloned()
        })
    }

    /// Shows the banner for an error of `kind` (an [`ErrorKind`], or its
    /// wire code as a string).
    pub(crate) fn show_error(&self, kind: impl Into<ErrorKind>, message: &str) {
        self.banner.set(Some(describe(kind.into(), message)));
    }
}
