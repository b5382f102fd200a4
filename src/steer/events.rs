//! What a run emits, step by step: the events the playground draws and the
//! CLI writes to a trace (importance, tokens with rewards, chunk decisions,
//! statistics). Serialised as tagged JSON.

use serde::{Deserialize, Serialize};

use crate::engine::StopReason;

/// A candidate the UI shows on hover: probability before and after steering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    pub id: u32,
    #[serde(default)]
    pub text: String,
    pub base_p: f64,
    pub steered_p: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// PDD's PIE pass: importance of each attribute and the ones used.
    Importance {
        attributes: Vec<String>,
        /// Raw `I_i = log P(G|T) - log P(G|T_i)`, nats.
        raw: Vec<f64>,
        /// The weights the decoder uses (scaled, or the user's sliders).
        weights: Vec<f64>,
        selected: Vec<usize>,
        /// `G`, the greedy answer under the full persona prompt (the PP answer).
        pie_tokens: Vec<u32>,
        #[serde(default)]
        pie_text: String,
    },
    /// One emitted token.
    Token {
        index: usize,
        id: u32,
        #[serde(default)]
        text: String,
        /// PDD: `R` of the token; SCR/RS: its summed expert log-ratio weighted by α.
        reward: Option<f64>,
        /// Per attribute (PDD, selected order) or per expert (SCR/MOD/RS).
        rewards: Vec<f64>,
        top: Vec<Alternative>,
        /// The chunk that carried it (SCR), if any.
        chunk: Option<usize>,
    },
    /// One SCR chunk decision.
    Chunk {
        index: usize,
        proposed: Vec<u32>,
        accepted: usize,
        /// `S(j)` for prefixes j = 1..=k (−inf when Score <= 0: `null` in
        /// JSON, which has no infinities).
        #[serde(with = "minus_infinity_as_null")]
        s: Vec<f64>,
        log_m: f64,
        /// Per expert, per proposed token: `log π_di − log π_ref`.
        log_ratios: Vec<Vec<f64>>,
        fallback: bool,
        forced: bool,
    },
    /// The run's statistics (last event).
    Done { stats: RunStats },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    pub method: String,
    pub tokens: usize,
    pub elapsed_ms: f64,
    pub tokens_per_second: f64,
    /// Batched forward calls after the prompt prefill (weight reads).
    pub forward_calls: u64,
    /// Row-calls after the prefill: every row of every call once, however
    /// many positions it computes (how the MPG paper's Table 3 counts a
    /// model's forward pass; BENCHMARKS.md reconciles the two).
    pub row_evaluations: u64,
    pub forward_calls_per_token: f64,
    /// Row-calls per generated token.
    pub evaluations_per_token: f64,
    /// Token evaluations after the prefill: rows × positions computed.
    #[serde(default)]
    pub token_evaluations: u64,
    #[serde(default)]
    pub token_evaluations_per_token: f64,
    /// Proposed and rejected tokens (rejection-sampling methods).
    pub proposed: u64,
    pub rejected: u64,
    pub rejection_rate: f64,
    pub fallback_tokens: u64,
    pub forced_tokens: u64,
    /// Rejection tests made (chunks, prefixes, RS-1 tries, answers), and
    /// those whose score exceeded the bound in force: each such candidate
    /// was accepted surely, more often than the target asks, so a run with
    /// violations did not sample its target exactly.
    #[serde(default)]
    pub bound_tests: u64,
    #[serde(default)]
    pub bound_violations: u64,
    /// Sampled steps whose nucleus reached past the candidates read back
    /// (the views were read whole again: an extra forward each).
    #[serde(default)]
    pub dense_rereads: u64,
    /// Prompt positions prefilled (computed, all views), and what the
    /// prompts hold in all.
    pub prefill_positions: usize,
    pub prefill_positions_unshared: usize,
    /// Prompt positions taken from earlier runs' rows (the prefix cache).
    #[serde(default)]
    pub cached_positions: usize,
    /// From the start of the run to the end of the prompts' prefill, and
    /// to the first token shown, ms.
    #[serde(default)]
    pub prefill_ms: f64,
    #[serde(default)]
    pub ttft_ms: f64,
    /// What the prefix cache could not do (a budget too small to keep this
    /// answer's rows), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_note: Option<String>,
    /// PDD's importance came from an earlier run over the same
    /// conversation and persona (no PIE token generated).
    #[serde(default)]
    pub reused_importance: bool,
    pub stop_reason: StopReason,
}

/// Scores that may be −∞ (a chunk that cannot be accepted): JSON has no
/// infinities, so −∞ is written as `null` and `null` read back as −∞.
mod minus_infinity_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let v: Vec<Option<f64>> = v
            .iter()
            .map(|&x| (x != f64::NEG_INFINITY).then_some(x))
            .collect();
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(v.into_iter()
            .map(|x| x.unwrap_or(f64::NEG_INFINITY))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk no prefix of which can be accepted (every score −∞) survives
    /// JSON, the trace file's and the worker's wire format.
    #[test]
    fn minus_infinite_scores_round_trip_through_json() {
        let chunk = Event::Chunk {
            index: 0,
            proposed: vec![49, 24536],
            accepted: 0,
            s: vec![f64::NEG_INFINITY, -0.68],
            log_m: 0.18,
            log_ratios: vec![vec![-0.56, 0.15]],
            fallback: true,
            forced: false,
        };
        let json = serde_json::to_string(&chunk).unwrap();
        assert!(json.contains("\"s\":[null,-0.68]"), "{json}");
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), chunk);
    }
}
