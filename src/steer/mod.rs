//! Decoding-time persona steering: pure policies over the next-token
//! log-probs of views (no model inside; they ask a `ViewModel` and receive an
//! RNG), plus the runner that builds the views for each method.
//!
//! - `pdd`: PDD (PDD paper; ALGORITHMS.md "PDD")
//! - `scr`: MPG with SCR (MPG paper §3.3), with `bound` and `score`
//! - `rs`: Token-RS and Seq-RS; `mod_`: MOD; `single`: Base and PP
//! - `run`: methods, settings, validation, views, statistics

pub mod bound;
pub mod common;
pub mod events;
pub mod mod_;
pub mod mpg_at;
pub mod pdd;
pub mod persona;
pub mod probe;
pub mod rs;
pub mod run;
pub mod score;
pub mod scr;
pub mod single;
#[cfg(test)]
mod tabular;
pub mod view_model;

pub use events::{Event, RunStats};
pub use run::{run, Method, RunConfig};
pub use view_model::{EngineViews, ViewModel};
