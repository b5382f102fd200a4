//! The engine: a loaded model (tokenizer, chat template, compute backend:
//! `loaded.rs`) and the decoding loop over its rows (`generate.rs`). The CLI
//! and the Web Worker both drive it; the steering methods ask it for
//! log-probs of views.

pub mod clock;
pub mod generate;
mod loaded;
pub mod sampling;

pub use generate::{GenerateParams, Generation, GenerationSummary, StopReason, TokenEvent};
pub use loaded::Engine;
pub use sampling::Sampling;

use crate::backend::Backend;
use crate::Result;

// Here rather than in `loaded.rs`: the engine's file needs nothing from
// `generate.rs`, which builds on it.
impl<B: Backend> Engine<B> {
    /// Starts a generation from `prompt` on a fresh row.
    pub fn generate(
        &mut self,
        prompt: Vec<u32>,
        params: GenerateParams,
    ) -> Result<Generation<'_, B>> {
        Generation::new(self, prompt, params)
    }
}
