//! Why an answer ended: one type from the engine's decoders (plain chat and
//! every steering method) through the events and the worker to the page,
//! serialised as its code (`"eos"`, `"max_tokens"`, `"context"`,
//! `"cancelled"`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (`<|im_end|>`).
    Eos,
    /// The answer reached its token limit (also where nothing else was said).
    #[default]
    MaxTokens,
    /// The context window is full.
    Context,
    Cancelled,
}

impl StopReason {
    /// The wire code (what serde writes).
    pub fn code(self) -> &'static str {
        match self {
            StopReason::Eos => "eos",
            StopReason::MaxTokens => "max_tokens",
            StopReason::Context => "context",
            StopReason::Cancelled => "cancelled",
        }
    }

    /// As the page says it.
    pub fn words(self) -> &'static str {
        match self {
            StopReason::Eos => "finished",
            StopReason::MaxTokens => "stopped at the token limit",
            StopReason::Context => "stopped: context full",
            StopReason::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_its_code() {
        for s in [
            StopReason::Eos,
            StopReason::MaxTokens,
            StopReason::Context,
            StopReason::Cancelled,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.code()));
            assert_eq!(serde_json::from_str::<StopReason>(&json).unwrap(), s);
        }
    }
}
