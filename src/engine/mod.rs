//! The engine: a loaded model (tokenizer, chat template, compute backend:
//! `loaded.rs`), plain chat's settings and reports (`generate.rs`; the
//! generation itself is `steer::chat`, on the shared decode step), why an
//! answer stopped (`stop.rs`), sampling and a clock. The CLI and the Web
//! Worker both drive it; the steering methods ask it for log-probs of views.
//! What it keeps across runs (`prefix_cache`: KV rows by token prefix;
//! `memo`: results computed from views' prompts alone) makes a re-run or a
//! new turn pay only for what changed.

pub mod clock;
pub mod generate;
mod loaded;
pub mod memo;
pub mod prefix_cache;
pub mod sampling;
pub mod stop;

pub use generate::{GenerateParams, GenerationSummary, TokenEvent};
pub use loaded::Engine;
pub use memo::RunCache;
pub use prefix_cache::PrefixCache;
pub use sampling::Sampling;
pub use stop::StopReason;
