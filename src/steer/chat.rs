//! Plain chat: one view (the conversation as given, under the user's own
//! system prompt), decided by the shared decode step (`step.rs`) with the
//! row's own distribution — the same step Base, PP, Soups, MOD and PDD
//! take. Driven token by token (`next_token`), so the worker can yield to
//! its event loop and cancel between tokens; streams text deltas and
//! stops with the one `StopReason` every decoder reports.

use rand_chacha::ChaCha8Rng;

use super::common::decision_read;
use super::engine_views::EngineViews;
use super::single::OwnRow;
use super::step::Stepper;
use super::view_model::{PrefillStats, ViewModel, ViewSpec};
use crate::backend::{Backend, Mix};
use crate::engine::clock::now_ms;
use crate::engine::{Engine, GenerateParams, GenerationSummary, RunCache, StopReason, TokenEvent};
use crate::model::tokenizer::TextStream;
use crate::model::Tokenizer;
use crate::{Error, Result};

/// Where a generation is: before its prefill (the backend, lent), decoding
/// (its one view on a row).
enum Rows<'e, B: Backend> {
    Pending(&'e mut B, &'e mut RunCache),
    Running(Box<EngineViews<'e, B>>),
    Switching,
}

pub struct Generation<'e, B: Backend> {
    tokenizer: &'e Tokenizer,
    context: usize,
    rows: Rows<'e, B>,
    step: Stepper<OwnRow>,
    params: GenerateParams,
    rng: ChaCha8Rng,
    prompt: Vec<u32>,
    generated: Vec<u32>,
    text: String,
    stream: TextStream,
    stop: Option<StopReason>,
    prefill_ms: f64,
    /// The prefill's accounting (positions computed and cached).
    prefill: PrefillStats,
    decode_ms: f64,
}

impl<'e, B: Backend> Generation<'e, B> {
    /// A generation from `prompt` (prefilled on the first `next_token`).
    pub fn new(
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
        let Engine {
            tokenizer,
            backend,
            cache,
            ..
        } = engine;
        Ok(Self {
            tokenizer,
            context,
            rows: Rows::Pending(backend, cache),
            step: Stepper::new(OwnRow, None),
            rng: params.sampling.rng(),
            params,
            prompt,
            generated: Vec::new(),
            text: String::new(),
            stream: TextStream::default(),
            stop: None,
            prefill_ms: 0.0,
            prefill: PrefillStats::default(),
            decode_ms: 0.0,
        })
    }

    /// The prefill, with the first decision's read.
    async fn start(&mut self) -> Result<()> {
        if !matches!(self.rows, Rows::Pending(..)) {
            return Ok(());
        }
        let Rows::Pending(backend, cache) = std::mem::replace(&mut self.rows, Rows::Switching)
        else {
            unreachable!("checked above");
        };
        let t0 = now_ms();
        let view = ViewSpec {
            prompt: self.prompt.clone(),
            mix: vec![],
        };
        let first = [decision_read(Mix::Row { row: 0 }, &self.params.sampling)];
        let mut views = EngineViews::new(backend, cache, &[view], &first).await?;
        self.prefill_ms = now_ms() - t0;
        self.prefill = views.prefill;
        self.step = Stepper::new(OwnRow, views.take_first().and_then(|mut r| r.pop()));
        self.rows = Rows::Running(Box::new(views));
        Ok(())
    }

    /// Produces the next token, or `None` once the generation has stopped.
    pub async fn next_token(&mut self) -> Result<Option<TokenEvent>> {
        if self.stop.is_some() {
            return Ok(None);
        }
        self.start().await?;
        let Rows::Running(views) = &mut self.rows else {
            return Err(Error::Backend("the generation's prefill failed".into()));
        };
        let views = &mut **views;
        let sampling = self.params.sampling;
        let d = self.step.decide(views, &sampling, &mut self.rng).await?;
        let id = d.token;
        let eos = id == self.tokenizer.eos_id;
        let text = if eos {
            String::new()
        } else {
            self.stream.push(self.tokenizer, id)?
        };
        self.text.push_str(&text);
        self.generated.push(id);
        let event = TokenEvent {
            index: self.generated.len() - 1,
            id,
            text,
            logprob: d.at[0] as f32,
        };
        self.stop = if eos {
            Some(StopReason::Eos)
        } else if self.generated.len() >= self.params.max_tokens {
            Some(StopReason::MaxTokens)
        } else if self.prompt.len() + self.generated.len() >= self.context {
            Some(StopReason::Context)
        } else {
            None
        };
        if self.stop.is_none() {
            let t0 = now_ms();
            self.step.advance(views, id, &sampling).await?;
            self.decode_ms += now_ms() - t0;
        } else {
            let tail = self.stream.finish(self.tokenizer)?;
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
            prefill_positions: self.prefill.positions,
            cached_positions: self.prefill.cached,
            prefill_tokens_per_second: rate(self.prefill.positions, self.prefill_ms),
            tokens_per_second: rate(decoded, self.decode_ms),
        }
    }
}

impl<B: Backend> Engine<B> {
    /// Starts a plain-chat generation from `prompt` (see [`Generation`]).
    pub fn generate(
        &mut self,
        prompt: Vec<u32>,
        params: GenerateParams,
    ) -> Result<Generation<'_, B>> {
        Generation::new(self, prompt, params)
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}
