//! The generation-level judge of `persona eval-steering` (issue "Steering
//! you can see", point 3): an answer is scored by the base model itself,
//! teacher-forced, (a) as its pole likelihood ratio — mean log-prob per
//! token after the first pole's context minus after the second's (the pole
//! system prompts of `assets/personas/experts.toml`, alone or with the
//! few-shot turns `make-pairs` uses) — and (b) for fluency, its mean
//! negative log-prob per token under the plain chat (perplexity = e^nll).
//! A weak judge: the same 135M model that writes the answers, the prompt
//! experts' prompts, and with shots the contexts the pairs came from.

use crate::backend::Backend;
use crate::engine::Engine;
use crate::model::ChatMessage;
use crate::train::pole_sampler::{mean_logprobs, PoleContext};
use crate::Result;

/// The three prefilled contexts the judge reads answers under.
pub struct Judge {
    first: PoleContext,
    second: PoleContext,
    plain: PoleContext,
}

/// What the judge says of one answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// Nats per token toward the first pole (negative: the second).
    pub pole_ratio: f64,
    /// Mean negative log-prob per token under the plain model.
    pub nll: f64,
}

impl Judge {
    /// Prefills the contexts for answers to `prompts` (and no others).
    pub async fn prefill<B: Backend>(
        engine: &mut Engine<B>,
        first: &[ChatMessage],
        second: &[ChatMessage],
        prompts: &[String],
    ) -> Result<Self> {
        let first = PoleContext::prefill(engine, first, prompts).await?;
        let second = match PoleContext::prefill(engine, second, prompts).await {
            Ok(c) => c,
            Err(e) => {
                engine.backend.free_row(first.row);
                return Err(e);
            }
        };
        let plain = match PoleContext::prefill(engine, &[], prompts).await {
            Ok(c) => c,
            Err(e) => {
                engine.backend.free_row(first.row);
                engine.backend.free_row(second.row);
                return Err(e);
            }
        };
        Ok(Self {
            first,
            second,
            plain,
        })
    }

    /// Scores answers (token ids) to `user`.
    pub async fn score<B: Backend>(
        &self,
        engine: &mut Engine<B>,
        user: &str,
        answers: &[&[u32]],
    ) -> Result<Vec<Verdict>> {
        let first = mean_logprobs(engine, &self.first, user, answers).await?;
        let second = mean_logprobs(engine, &self.second, user, answers).await?;
        let plain = mean_logprobs(engine, &self.plain, user, answers).await?;
        Ok((0..answers.len())
            .map(|i| Verdict {
                pole_ratio: first[i] - second[i],
                nll: -plain[i],
            })
            .collect())
    }

    /// Gives the contexts' rows back.
    pub fn free<B: Backend>(self, engine: &mut Engine<B>) {
        for c in [self.first, self.second, self.plain] {
            engine.backend.free_row(c.row);
        }
    }
}
