//! What a plain-chat generation takes and reports (its settings, each
//! streamed token, its summary), shared by the CLI, the worker protocol and
//! the page. The generation itself is `steer::chat::Generation`: plain chat
//! decides with the same step as the steering methods.

use serde::{Deserialize, Serialize};

use super::sampling::Sampling;
use super::stop::StopReason;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GenerateParams {
    pub max_tokens: usize,
    pub sampling: Sampling,
}

/// One generated token, as streamed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenEvent {
    pub index: usize,
    pub id: u32,
    /// Text that became complete with this token (may be empty mid-character).
    pub text: String,
    pub logprob: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationSummary {
    pub prompt_ids: Vec<u32>,
    pub generated_ids: Vec<u32>,
    pub text: String,
    pub stop_reason: StopReason,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    /// Prompt positions computed, and taken from the prefix cache.
    #[serde(default)]
    pub prefill_positions: usize,
    #[serde(default)]
    pub cached_positions: usize,
    /// Prompt positions computed per second of the prefill.
    pub prefill_tokens_per_second: f64,
    /// Generated tokens per second after the prefill (one forward per token).
    pub tokens_per_second: f64,
}
