//! Decoding-time persona steering: pure policies over the next-token
//! log-probs of views (no model inside; they ask a `ViewModel` and receive an
//! RNG), plus the runner that builds the views for each method.
//!
//! A method is one file implementing `DecodingMethod` (`method.rs`) and one
//! line in `registry.rs`:
//! - `single`: Base, PP and DPO Soups (one view)
//! - `pdd`: PDD (PDD paper; ALGORITHMS.md "PDD")
//! - `scr`: MPG with SCR (MPG paper §3.3), with `bound` and `score`
//! - `rs`: Token-RS and Seq-RS; `best_of_n`: Best-of-N; `mod_`: MOD
//!
//! Around them: `config` (every setting, as data), `validate`, `views` (the
//! views' prompts), `run` (one answer end to end, its statistics), `probe`
//! (axis probes through each method's likelihood).

#[macro_use]
mod registry;

pub mod best_of_n;
pub mod bound;
pub mod chat;
pub mod common;
pub mod config;
mod dispatch;
pub mod events;
pub mod method;
pub mod methods;
pub mod mod_;
pub mod mpg_at;
pub mod mpg_method;
pub mod pdd;
pub mod persona;
pub mod probe;
pub mod rs;
pub mod run;
pub mod score;
pub mod scr;
pub mod single;
mod step;
#[cfg(test)]
mod tabular;
pub mod teacher_forced;
mod validate;
pub mod view_model;
pub mod views;

pub use config::RunConfig;
pub use events::{Event, RunStats};
pub use method::{Experts, Knob, MethodInfo, Probe, Rewards};
pub use methods::Method;
pub use run::run;
pub use view_model::{EngineViews, ViewModel};
