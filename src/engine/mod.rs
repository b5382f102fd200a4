//! The engine: a loaded model (tokenizer, chat template, compute backend:
//! `loaded.rs`), plain chat's settings and reports (`generate.rs`; the
//! generation itself is `steer::chat`, on the shared decode step), why an
//! answer stopped (`stop.rs`), sampling and a clock. The CLI and the Web
//! Worker both drive it; the steering methods ask it for log-probs of views.

pub mod clock;
pub mod generate;
mod loaded;
pub mod sampling;
pub mod stop;

pub use generate::{GenerateParams, GenerationSummary, TokenEvent};
pub use loaded::Engine;
pub use sampling::Sampling;
pub use stop::StopReason;
