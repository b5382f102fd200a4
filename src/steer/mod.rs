//! Decoding-time persona steering: pure policies over the next-token
//! log-probs of views (no model inside; they ask a `ViewModel` and receive an
//! RNG), plus the runner that builds the views for each method.
//!
//! A method is one file implementing `DecodingMethod` (`method.rs`) and one
//! line in `registry.rs`:
//! - `single`: Base, PP and DPO Soups (one view)
//! - `pdd`: PDD (PDD paper; ALGORITHMS.md "PDD")
//! - `scr`: MPG with SCR (MPG paper §3.3), with `bound` and `score`
//!   (`mutation`: test-only faults the samplers' chi-square tests must catch)
//! - `rs`: Token-RS and Seq-RS; `best_of_n`: Best-of-N; `mod_`: MOD
//!
//! Around them: `config` (every setting, as data), `validate`, `views` (the
//! views' prompts), `view_model` (what a method asks of its views) and
//! `engine_views` (the views on backend rows), `run` (one answer end to end, its statistics), `probe`
//! (axis probes through each method's likelihood).

#[macro_use]
mod registry;

pub(crate) mod best_of_n;
pub(crate) mod bound;
pub(crate) mod chat;
pub(crate) mod common;
pub(crate) mod config;
mod dispatch;
pub(crate) mod engine_views;
pub(crate) mod events;
pub(crate) mod method;
pub(crate) mod methods;
pub(crate) mod mod_;
pub(crate) mod mpg_at;
pub(crate) mod mpg_method;
pub(crate) mod mutation;
pub(crate) mod pdd;
pub(crate) mod persona;
pub(crate) mod probe;
pub(crate) mod rs;
pub(crate) mod run;
#[cfg(test)]
mod sampler_spec;
pub(crate) mod score;
pub(crate) mod scr;
pub(crate) mod single;
mod step;
#[cfg(test)]
mod tabular;
pub(crate) mod teacher_forced;
mod validate;
pub(crate) mod view_model;
pub(crate) mod views;

pub use bound::BoundConfig;
pub use chat::Generation;
pub use config::{
    ExpertKind, PddConfig, Reference, RunConfig, ScrConfig, Target, Turn, WeightedExpert,
    MAX_ABS_ALPHA,
};
pub use engine_views::EngineViews;
pub use events::{Alternative, Event, RunStats};
pub use method::{Experts, Knob, MethodInfo, Probe, Rewards};
pub use methods::Method;
pub use mpg_at::MpgAt;
pub use persona::{builtin_experts, experts_path, load_experts, Persona, PromptExpert};
pub use probe::{builtin_items, items_from_jsonl, probe, score_item, AxisScore, ProbeItem};
pub use run::run;
pub use view_model::{Cost, PrefillStats, ViewModel, ViewSpec};
