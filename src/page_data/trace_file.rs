//! Trace files: a steered answer saved as the JSON `persona run --trace`
//! writes (`version`, `config`, `text`, `events`; the page adds
//! `chunk_text`, the spelled-out proposals of SCR's chunks). Parsing and
//! checking only (the page's import runs this, natively compiled too for the
//! tests and fuzz targets); the replay into the page is `crate::app::trace_file`.

use serde::{Deserialize, Serialize};

use crate::steer::{Event as SteerEvent, RunConfig};

/// The trace format this page reads and writes.
pub(crate) const VERSION: u32 = 1;

/// No answer of this page's model is longer than its context.
pub(crate) const MAX_TRACE_TOKENS: usize = 8192;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceFile {
    pub version: u32,
    pub config: RunConfig,
    pub text: String,
    pub events: Vec<SteerEvent>,
    /// Per chunk, the text of each proposed token (absent in CLI traces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunk_text: Vec<Vec<String>>,
}

impl TraceFile {
    pub fn parse(json: &str) -> Result<Self, String> {
        let file: TraceFile =
            serde_json::from_str(json).map_err(|e| format!("it is not a persona trace ({e})"))?;
        if file.version != VERSION {
            return Err(format!(
                "it is trace version {}; this page reads version {VERSION}",
                file.version
            ));
        }
        file.check()?;
        Ok(file)
    }

    /// What a trace claims must be possible: settings a run accepts, and
    /// token and chunk counts an answer of this model can have.
    fn check(&self) -> Result<(), String> {
        self.config
            .validate()
            .map_err(|e| format!("its settings are not valid: {e}"))?;
        let too_many = |what: &str, n: usize| {
            format!(
                "it claims {what} {n} tokens, more than any answer holds (the model's context is {MAX_TRACE_TOKENS} tokens)"
            )
        };
        if self.config.max_tokens > MAX_TRACE_TOKENS {
            return Err(too_many("a limit of", self.config.max_tokens));
        }
        let mut tokens = 0;
        let mut chunks = 0;
        for event in &self.events {
            match event {
                SteerEvent::Token { index, .. } => {
                    if *index != tokens {
                        return Err(format!(
                            "its token {} carries the index {index}: tokens are numbered 0, 1, 2, ... in order",
                            tokens + 1
                        ));
                    }
                    tokens += 1;
                }
                SteerEvent::Chunk {
                    index,
                    proposed,
                    accepted,
                    ..
                } => {
                    if *index != chunks || *accepted > proposed.len() {
                        return Err(format!(
                            "its chunk {} (index {index}) accepts {accepted} of {} proposed tokens: chunks are numbered in order and accept at most what they propose",
                            chunks + 1,
                            proposed.len()
                        ));
                    }
                    chunks += 1;
                }
                SteerEvent::Done { stats } if stats.tokens > MAX_TRACE_TOKENS => {
                    return Err(too_many("an answer of", stats.tokens));
                }
                _ => {}
            }
        }
        if tokens > self.config.max_tokens {
            return Err(format!(
                "it holds {tokens} tokens but its limit is {}",
                self.config.max_tokens
            ));
        }
        Ok(())
    }

    /// A file name like `persona-scr-seed42.json`.
    pub fn file_name(&self) -> String {
        format!(
            "persona-{}-seed{}.json",
            self.config.method.name(),
            self.config.seed
        )
    }
}
