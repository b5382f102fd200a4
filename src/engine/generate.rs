//! One generation on one row: prefill the prompt, then sample token after
//! token, streaming text deltas. The caller drives it step by step (the
//! worker yields to its event loop between tokens, so it can be cancelled).

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::clock::now_ms;
use super::sampling::{sample, sample_top, Sampling};
use super::Engine;
use crate::backend::{Backend, Mix, MixRead, Mixed, Readout, RowId, RowStep, MAX_TOP_K};
use crate::model::tokenizer::TextStream;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GenerateParams {
    pub max_tokens: usize,
    pub sampling: Sampling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (`<|im_end|>`).
    Eos,
    MaxTokens,
    /// The context window is full.
    Context,
    Cancelled,
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
    /// Prompt tokens per second of the prefill.
    pub prefill_tokens_per_second: f64,
    /// Generated tokens per second after the prefill (one forward per token).
    pub tokens_per_second: f64,
}

/// What the last forward gave back for the next token: greedy decoding
/// asks only for the best token, sampling for the 64 best candidates with
/// the tempered mass of the whole distribution (a few bytes from a GPU
/// either way); the whole distribution only when a nucleus reaches past
/// the candidates.
enum Next {
    Best(u32, f32),
    Candidates(Mixed),
}

impl<B: Backend> Generation<'_, B> {
    /// Appends `tokens` to the row and reads what the next draw needs.
    async fn forward_next(&mut self, tokens: &[u32]) -> Result<Next> {
        let backend = &mut self.engine.backend;
        match self.params.sampling {
            Sampling::Greedy => {
                let step = RowStep {
                    row: self.row,
                    tokens,
                    readout: Readout::TopK(1),
                };
                let out = backend.forward(&[step]).await?;
                let (id, lp) = out[0].top[0];
                Ok(Next::Best(id, lp))
            }
            Sampling::TopP {
                temperature, top_p, ..
            } => {
                let step = RowStep {
                    row: self.row,
                    tokens,
                    readout: Readout::Last,
                };
                let read = MixRead::top(Mix::Row { row: 0 }, MAX_TOP_K).nucleus(temperature, top_p);
                let mut out = backend.forward_mixed(&[step], &[read]).await?;
                Ok(Next::Candidates(out.pop().expect("one read")))
            }
        }
    }

    /// The whole distribution after the row's last token, evaluated again.
    async fn reread(&mut self) -> Result<Vec<f32>> {
        let last = *self
            .generated
            .last()
            .unwrap_or(&self.prompt[self.prompt.len() - 1]);
        let backend = &mut self.engine.backend;
        let len = backend.row_len(self.row)?;
        backend.truncate_row(self.row, len - 1)?;
        let step = RowStep {
            row: self.row,
            tokens: &[last],
            readout: Readout::Last,
        };
        let out = backend.forward(&[step]).await?;
        Ok(out[0].last().to_vec())
    }
}

pub struct Generation<'e, B: Backend> {
    engine: &'e mut Engine<B>,
    row: RowId,
    params: GenerateParams,
    rng: ChaCha8Rng,
    prompt: Vec<u32>,
    generated: Vec<u32>,
    text: String,
    stream: TextStream,
    next: Option<Next>,
    stop: Option<StopReason>,
    prefill_ms: f64,
    decode_ms: f64,
}

impl<'e, B: Backend> Generation<'e, B> {
    pub(super) fn new(
        engine: &'e mut Engine<B>,
        prompt: Vec<u32>,
        params: GenerateParams,
    ) -> Result<Self> {
        params.sampling.validate()?;
        if params.max_tokens == 0 {
            return Err(Error::InvalidInput("max tokens must be at least 1".into()));
        }
        if prompt.is_empty() {
            return Err(Error::InvalidInput("the prompt is empty".into()));
        }
        let context = engine.config().context;
        if prompt.len() >= context {
            return Err(Error::ContextOverflow {
                tokens: prompt.len(),
                context,
            });
        }
        let row = engine.backend.new_row()?;
        Ok(Self {
            engine,
            row,
            rng: params.sampling.rng(),
            params,
            prompt,
            generated: Vec::new(),
            text: String::new(),
            stream: TextStream::default(),
            next: None,
            stop: None,
            prefill_ms: 0.0,
            decode_ms: 0.0,
        })
    }

    /// Produces the next token, or `None` once the generation has stopped.
    pub async fn next_token(&mut self) -> Result<Option<TokenEvent>> {
        if self.stop.is_some() {
            return Ok(None);
        }
        let next = match self.next.take() {
            Some(next) => next,
            None => {
                let t0 = now_ms();
                let prompt = std::mem::take(&mut self.prompt);
                let next = self.forward_next(&prompt).await;
                self.prompt = prompt;
                self.prefill_ms = now_ms() - t0;
                next?
            }
        };
        let sampling = self.params.sampling;
        let (id, logprob) = match next {
            Next::Best(id, logprob) => (id, logprob),
            Next::Candidates(mx) => {
                let mass = mx.mass.unwrap_or(0.0);
                match sample_top(&mx.top, mass, &sampling, &mut self.rng) {
                    Some(id) => (id, mx.top.iter().find(|t| t.0 == id).expect("drawn").1),
                    None => {
                        let lp = self.reread().await?;
                        let id = sample(&lp, &sampling, &mut self.rng);
                        (id, lp[id as usize])
                    }
                }
            }
        };
        let eos = id == self.engine.tokenizer.eos_id;
        let text = if eos {
            String::new()
        } else {
            self.stream.push(&self.engine.tokenizer, id)?
        };
        self.text.push_str(&text);
        self.generated.push(id);
        let event = TokenEvent {
            index: self.generated.len() - 1,
            id,
            text,
            logprob,
        };
        let context = self.engine.config().context;
        self.stop = if eos {
            Some(StopReason::Eos)
        } else if self.generated.len() >= self.params.max_tokens {
            Some(StopReason::MaxTokens)
        } else if self.prompt.len() + self.generated.len() >= context {
            Some(StopReason::Context)
        } else {
            None
        };
        if self.stop.is_none() {
            let t0 = now_ms();
            let next = self.forward_next(&[id]).await?;
            self.decode_ms += now_ms() - t0;
            self.next = Some(next);
        } else {
            let tail = self.stream.finish(&self.engine.tokenizer)?;
            self.text.push_str(&tail);
        }
        Ok(Some(event))
    }

    /// Stops early (the user pressed cancel).
    pub fn cancel(&mut self) {
        if self.stop.is_none() {
            self.stop = Some(StopReason::Cancelled);
        }
    }

    pub fn summary(&self) -> GenerationSummary {
        // Each token after the first costs one decode forward.
        let decoded = self.generated.len().saturating_sub(1).max(1);
        GenerationSummary {
            prompt_ids: self.prompt.clone(),
            generated_ids: self.generated.clone(),
            text: self.text.clone(),
            stop_reason: self.stop.unwrap_or(StopReason::Cancelled),
            prefill_ms: self.prefill_ms,
            decode_ms: self.decode_ms,
            prefill_tokens_per_second: rate(self.prompt.len(), self.prefill_ms),
            tokens_per_second: rate(decoded, self.decode_ms),
        }
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

impl<B: Backend> Drop for Generation<'_, B> {
    fn drop(&mut self) {
        self.engine.backend.free_row(self.row);
    }
}
