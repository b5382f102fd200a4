//! What a decoding method is, in one place: its description (name, label,
//! help, the inputs it takes, what its rewards mean, whether the probe can
//! score it) and its behaviour (its own validation, its views, the reads
//! taken with the prefill, its decode, its probe likelihood). Each method
//! implements [`DecodingMethod`] in its own file and is listed once in
//! `registry.rs`; the runner, the probe, the CLI, the bench and the page ask
//! the description instead of matching on the method.

use std::future::Future;

use rand_chacha::ChaCha8Rng;

use super::common::{Limits, Outcome};
use super::config::RunConfig;
use super::events::Event;
use super::view_model::{ViewModel, ViewSpec};
use super::views::ViewPrompts;
use crate::backend::MixRead;
use crate::{Error, Result};

/// Which experts a method weights with α.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Experts {
    /// None: the method takes no α.
    None,
    /// Prompt experts and LoRA adapters alike.
    Any,
    /// LoRA adapters only (merged into one row).
    AdaptersOnly,
}

/// A setting a method reads besides persona and experts (the page shows a
/// field for each, the address carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Knob {
    /// SCR's chunk size k (`scr.k`).
    ChunkSize,
    /// PDD's reward strength β (`pdd.beta`).
    Beta,
    /// PDD's number of attributes used K (`pdd.top_k`).
    TopK,
    /// PDD's importance weights set by hand (`pdd.weights`).
    ImportanceWeights,
    /// Whole answers drawn at most (`max_seq_tries`).
    AnswerTries,
}

/// What a token's rewards are, for the page's captions and legends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rewards {
    /// No per-token rewards.
    None,
    /// PDD: one reward per selected attribute, toward the persona.
    PerAttribute,
    /// MOD: each expert's log-prob of the token.
    ExpertLogProb,
    /// MPG methods: each expert's log-ratio against the reference.
    ExpertLogRatio,
}

/// Whether the axis probe can score a method (teacher-forced likelihood of
/// a given completion under the method's distribution).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    ClosedForm,
    /// Scored under a stand-in likelihood (MPG's sequence-level target),
    /// not the distribution the method samples; the reason, as the page
    /// and CLI say it.
    Proxy(&'static str),
    /// No closed-form likelihood; the reason, as the page and CLI say it.
    Unavailable(&'static str),
}

/// A method's description.
#[derive(Debug, Clone, Copy)]
pub struct MethodInfo {
    /// The CLI's and the wire's name (`--method NAME`, traces, the address).
    pub name: &'static str,
    /// The page's label.
    pub label: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// The distribution it samples, as a formula (docs/ALGORITHMS.md
    /// "What each method samples" derives each).
    pub samples: &'static str,
    /// Needs a persona (PP, PDD).
    pub persona: bool,
    pub experts: Experts,
    /// Reads the proposal / reference setting (`--reference`).
    pub reference: bool,
    /// Its proposals are random: it needs a seed even when decisions are greedy.
    pub random_proposals: bool,
    /// The settings it reads besides persona and experts.
    pub knobs: &'static [Knob],
    /// Measures attribute importance first (the page's importance bars).
    pub importance: bool,
    pub rewards: Rewards,
    /// A single answer of it is the page's plain chat (the user's system
    /// prompt, no steering): the baseline every comparison is against.
    pub plain_chat: bool,
    pub probe: Probe,
}

impl MethodInfo {
    pub fn uses_experts(&self) -> bool {
        self.experts != Experts::None
    }

    /// Needs a persona, directly or as its proposal view.
    pub fn needs_persona(&self, cfg: &RunConfig) -> bool {
        self.persona || self.reference && cfg.reference == super::config::Reference::Persona
    }
}

/// What a method's decode receives besides its views.
pub(crate) struct DecodeContext<'a> {
    pub cfg: &'a RunConfig,
    /// Every expert's α, in `cfg.experts` order.
    pub alpha: Vec<f64>,
    pub limits: Limits,
    pub rng: &'a mut ChaCha8Rng,
    pub sink: &'a mut dyn FnMut(Event),
}

/// A probe item as the method scores it: both completions, each tokenized.
pub(crate) struct ProbeCompletions<'a> {
    pub completions: [&'a [u32]; 2],
    pub eos: u32,
}

/// A decoding method. Implemented once per method, in its own file.
pub(crate) trait DecodingMethod: Sync {
    fn info(&self) -> &'static MethodInfo;

    /// Checks of its own settings, after the shared ones (the message, the
    /// turns, the persona when `info().persona`, the experts and their α
    /// when it uses experts).
    fn validate(&self, _cfg: &RunConfig) -> Result<()> {
        Ok(())
    }

    /// How many views (rows) it evaluates.
    fn view_count(&self, cfg: &RunConfig) -> usize;

    /// Its views' prompts and adapter mixes, in the order its decode reads them.
    fn views(&self, cfg: &RunConfig, prompts: &ViewPrompts) -> Result<Vec<ViewSpec>>;

    /// Reads answered with the last prefill call (its first decision), or
    /// none: then every view's next-token row is known after the prefill.
    fn first_reads(&self, _cfg: &RunConfig) -> Vec<MixRead> {
        Vec::new()
    }

    /// Whether the method may read only some of its views and `ensure`s
    /// each before reading it (PDD with its importance kept): its views'
    /// last prompt tokens are then evaluated on demand
    /// (`EngineViews::new_deferred`). Needs no first reads.
    fn reads_some_views(&self) -> bool {
        false
    }

    /// Decodes one answer, streaming its events.
    fn decode<M: ViewModel>(
        &self,
        m: &mut M,
        cx: DecodeContext<'_>,
    ) -> impl Future<Output = Result<Outcome>>;

    /// The log-likelihood of each completion under its distribution, from
    /// views whose next-token rows are known (prefilled without first
    /// reads). Methods without a closed form say so (`info().probe`).
    fn probe<M: ViewModel>(
        &self,
        _cfg: &RunConfig,
        _m: &mut M,
        _item: ProbeCompletions<'_>,
    ) -> impl Future<Output = Result<[f64; 2]>> {
        let info = self.info();
        async move { Err(probe_refusal(info)) }
    }
}

/// Why the probe cannot score a method (its description's reason).
pub(crate) fn probe_refusal(info: &MethodInfo) -> Error {
    Error::InvalidInput(match info.probe {
        Probe::Unavailable(why) => format!("the probe cannot score {}: {why}", info.label),
        Probe::ClosedForm | Probe::Proxy(_) => {
            format!("{} does not implement its probe likelihood", info.label)
        }
    })
}
