//! Batched sampling of the two answers of each preference pair (issue
//! "Steering you can see", point 1; `persona make-pairs`), contrastively.
//!
//! Every answer reads two views of the same text: its own pole's context
//! (system prompt and few-shot turns, then the user message) and the
//! opposite pole's. Each token is drawn from
//! `π_own^(1+λ) / π_other^λ` (the MPG paper's expert combination with
//! weights 1 + λ and −λ, i.e. MOD over the two pole prompts), restricted to
//! the tokens the own pole finds plausible (`π_own(t) ≥ ρ · max π_own`, the
//! adaptive plausibility constraint of contrastive decoding), then
//! tempered and cut to the top-p nucleus. λ = 0 is plain sampling under the
//! own pole. Both views' log-probs of every drawn token are summed on the
//! way, so each answer comes back with its pole likelihood ratio for free.
//!
//! All rows of a batch share one forward per step; each answer has its own
//! ChaCha8 stream, so the text does not depend on the batch size. The same
//! prefilled contexts ([`PoleContext`]) serve teacher-forced scoring
//! ([`mean_logprobs`]): an answer's relevance to its question here, and the
//! judge of `persona eval-steering` (`train::judge`).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::backend::{Backend, Readout, RowId, RowStep};
use crate::engine::sampling::{sample, Sampling};
use crate::engine::Engine;
use crate::model::{ChatMessage, Role};
use crate::train::answer_text::trim_to_sentence;
use crate::{Error, Result};

/// How answers are drawn.
#[derive(Debug, Clone, Copy)]
pub struct Contrast {
    /// λ: 0 samples the own pole; larger pushes away from the other pole.
    pub lambda: f32,
    /// ρ: tokens below this share of the own pole's most likely token are
    /// never drawn when λ > 0.
    pub plausibility: f32,
}

/// One answer to sample: its own view and the opposite pole's, each a fork
/// of a prefilled pole context's first `shared` positions then `suffix`.
pub struct AnswerJob {
    pub own: View,
    pub other: View,
    pub stream: u64,
}

/// A fork of `source`'s first `shared` positions, then `suffix`.
#[derive(Clone)]
pub struct View {
    pub source: RowId,
    pub shared: usize,
    pub suffix: Vec<u32>,
}

/// A sampled answer and its log-likelihood under both views.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampled {
    pub text: String,
    /// The drawn tokens (the end token included when drawn), before the
    /// text was cut back to its last sentence.
    pub ids: Vec<u32>,
    pub tokens: usize,
    /// Σ log π_own over the drawn tokens (the end token included when drawn).
    pub own_logprob: f64,
    /// Σ log π_other over the same tokens.
    pub other_logprob: f64,
}

impl Sampled {
    /// Mean log π_own per token: how fluent the own pole finds the answer.
    pub fn mean_own(&self) -> f64 {
        self.own_logprob / self.tokens.max(1) as f64
    }

    /// Mean log (π_own / π_other) per token: how much more the answer
    /// belongs to its own pole than to the other.
    pub fn pole_ratio(&self) -> f64 {
        (self.own_logprob - self.other_logprob) / self.tokens.max(1) as f64
    }
}

/// A conversation (a pole's, or none for the plain model) prefilled in a row, and how many of its tokens every
/// prompt after it shares.
pub struct PoleContext {
    context: Vec<ChatMessage>,
    pub row: RowId,
    /// The prefilled tokens, which every prompt's tokens must start with.
    prefix: Vec<u32>,
}

impl PoleContext {
    pub async fn prefill<B: Backend>(
        engine: &mut Engine<B>,
        context: &[ChatMessage],
        prompts: &[String],
    ) -> Result<Self> {
        let mut pole = Self {
            context: context.to_vec(),
            row: RowId(0),
            prefix: Vec::new(),
        };
        let mut shared = usize::MAX;
        let mut first: Option<Vec<u32>> = None;
        for user in prompts {
            let ids = pole.prompt_ids(engine, user)?;
            let reference = first.get_or_insert_with(|| ids.clone());
            let common = reference
                .iter()
                .zip(&ids)
                .take_while(|(a, b)| a == b)
                .count();
            shared = shared.min(common);
        }
        let Some(first) = first else {
            return Err(Error::InvalidInput("no prompts".into()));
        };
        // Every answer row needs at least one token of its own to read out.
        shared = shared.min(first.len() - 1);
        pole.prefix = first[..shared].to_vec();
        pole.row = engine.backend.new_row()?;
        let step = RowStep {
            row: pole.row,
            tokens: &pole.prefix,
            readout: Readout::None,
        };
        if let Err(e) = engine.backend.forward(&[step]).await {
            engine.backend.free_row(pole.row);
            return Err(e);
        }
        Ok(pole)
    }

    fn prompt_ids<B: Backend>(&self, engine: &Engine<B>, user: &str) -> Result<Vec<u32>> {
        let mut messages = self.context.clone();
        messages.push(ChatMessage::new(Role::User, user));
        engine.chat_prompt_messages(&messages)
    }

    /// The view of an answer to `user` under this pole.
    pub fn view<B: Backend>(&self, engine: &Engine<B>, user: &str) -> Result<View> {
        let ids = self.prompt_ids(engine, user)?;
        if !ids.starts_with(&self.prefix) || ids.len() == self.prefix.len() {
            return Err(Error::InvalidInput(format!(
                "the prompt {user:?} was not among those the context was prefilled for"
            )));
        }
        Ok(View {
            source: self.row,
            shared: self.prefix.len(),
            suffix: ids[self.prefix.len()..].to_vec(),
        })
    }
}

/// How much each answer (token ids) belongs to `user`'s question: its mean
/// log-prob per token under the plain model after `user` minus after
/// `foreign`, an unrelated question (nats; near 0 or below for an answer
/// that drifted off its prompt, e.g. into a few-shot turn's topic).
/// `plain` is the prefilled plain chat prefix.
pub async fn relevance<B: Backend>(
    engine: &mut Engine<B>,
    plain: &PoleContext,
    user: &str,
    foreign: &str,
    answers: &[&[u32]],
) -> Result<Vec<f64>> {
    let own = mean_logprobs(engine, plain, user, answers).await?;
    let other = mean_logprobs(engine, plain, foreign, answers).await?;
    Ok(own.iter().zip(&other).map(|(a, b)| a - b).collect())
}

/// Each answer's (token ids) mean log-prob per token after `context` and
/// the `user` message, all answers in one teacher-forced call.
pub async fn mean_logprobs<B: Backend>(
    engine: &mut Engine<B>,
    context: &PoleContext,
    user: &str,
    answers: &[&[u32]],
) -> Result<Vec<f64>> {
    let question = context.view(engine, user)?;
    let texts: Vec<Vec<u32>> = answers
        .iter()
        .map(|ids| [question.suffix.as_slice(), ids].concat())
        .collect();
    let rows = fork_rows(engine, texts.iter().map(|_| (context.row, question.shared)))?;
    let steps: Vec<RowStep> = rows
        .iter()
        .zip(&texts)
        .map(|(&row, tokens)| RowStep {
            row,
            tokens,
            readout: Readout::Score,
        })
        .collect();
    let scored = engine.backend.forward(&steps).await;
    rows.into_iter().for_each(|r| engine.backend.free_row(r));
    // Score i is the log-prob of token i + 1: the answer's are the last n.
    Ok(scored?
        .iter()
        .zip(answers)
        .map(|(s, ids)| {
            let n = ids.len();
            let lp = &s.scores[s.scores.len() - n..];
            lp.iter().map(|&x| x as f64).sum::<f64>() / n.max(1) as f64
        })
        .collect())
}

/// One fork per (source row, shared positions); on a failure the forks made
/// so far are freed.
fn fork_rows<B: Backend>(
    engine: &mut Engine<B>,
    forks: impl Iterator<Item = (RowId, usize)>,
) -> Result<Vec<RowId>> {
    let mut rows = Vec::new();
    for (source, shared) in forks {
        match engine.backend.fork_row(source, shared) {
            Ok(row) => rows.push(row),
            Err(e) => {
                rows.into_iter().for_each(|r| engine.backend.free_row(r));
                return Err(e);
            }
        }
    }
    Ok(rows)
}

/// The scores one token is drawn from: `own` alone for λ = 0, else
/// `(1+λ)·own − λ·other` on the plausible tokens and −∞ elsewhere.
pub fn contrast_scores(own: &[f32], other: &[f32], contrast: Contrast) -> Vec<f32> {
    if contrast.lambda == 0.0 {
        return own.to_vec();
    }
    let max = own.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = max + contrast.plausibility.ln();
    let (a, b) = (1.0 + contrast.lambda, contrast.lambda);
    own.iter()
        .zip(other)
        .map(|(&o, &t)| {
            if o >= floor {
                a * o - b * t
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect()
}

/// Samples every job's answer, at most `max_tokens` tokens each.
pub async fn sample_answers<B: Backend>(
    engine: &mut Engine<B>,
    jobs: &[AnswerJob],
    sampling: Sampling,
    contrast: Contrast,
    max_tokens: usize,
) -> Result<Vec<Sampled>> {
    let Sampling::TopP { seed, .. } = sampling else {
        return Err(Error::InvalidInput("pairs are sampled, not greedy".into()));
    };
    let views: Vec<&View> = jobs.iter().flat_map(|j| [&j.own, &j.other]).collect();
    let rows = fork_rows(engine, views.iter().map(|v| (v.source, v.shared)))?;
    let result = async {
        let mut rngs: Vec<ChaCha8Rng> = jobs
            .iter()
            .map(|job| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(job.stream);
                rng
            })
            .collect();
        let eos = engine.tokenizer.eos_id;
        let steps: Vec<RowStep> = rows
            .iter()
            .zip(&views)
            .map(|(&row, view)| RowStep {
                row,
                tokens: &view.suffix,
                readout: Readout::Last,
            })
            .collect();
        let mut logprobs = engine.backend.forward(&steps).await?;
        let mut answers: Vec<Vec<u32>> = vec![Vec::new(); jobs.len()];
        let mut sums = vec![(0.0f64, 0.0f64); jobs.len()];
        let mut finished = vec![false; jobs.len()];
        let mut active: Vec<usize> = (0..jobs.len()).collect();
        while !active.is_empty() {
            let mut next = Vec::with_capacity(active.len());
            for (pair, &i) in logprobs.chunks(2).zip(&active) {
                let (own, other) = (pair[0].last(), pair[1].last());
                let scores = contrast_scores(own, other, contrast);
                let token = sample(&scores, &sampling, &mut rngs[i]);
                sums[i].0 += own[token as usize] as f64;
                sums[i].1 += other[token as usize] as f64;
                if token == eos {
                    finished[i] = true;
                    continue;
                }
                answers[i].push(token);
                if answers[i].len() < max_tokens {
                    next.push(i);
                }
            }
            active = next;
            if active.is_empty() {
                break;
            }
            let steps: Vec<RowStep> = active
                .iter()
                .flat_map(|&i| {
                    let token = std::slice::from_ref(answers[i].last().unwrap_or(&eos));
                    [2 * i, 2 * i + 1].map(|r| RowStep {
                        row: rows[r],
                        tokens: token,
                        readout: Readout::Last,
                    })
                })
                .collect();
            logprobs = engine.backend.forward(&steps).await?;
        }
        answers
            .iter()
            .zip(&finished)
            .zip(&sums)
            .map(|((ids, &done), &(own, other))| {
                let text = engine.tokenizer.decode(ids)?;
                let mut drawn = ids.clone();
                if done {
                    drawn.push(eos);
                }
                Ok(Sampled {
                    ids: drawn,
                    text: if done {
                        text.trim().to_string()
                    } else {
                        trim_to_sentence(&text)
                    },
                    tokens: ids.len() + usize::from(done),
                    own_logprob: own,
                    other_logprob: other,
                })
            })
            .collect::<Result<Vec<Sampled>>>()
    };
    let result = result.await;
    for row in rows {
        engine.backend.free_row(row);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_zero_is_the_own_pole_and_lambda_one_its_square_over_the_other() {
        let own = [-0.1f32, -2.0, -4.0];
        let other = [-0.2f32, -3.0, -0.5];
        let plain = Contrast {
            lambda: 0.0,
            plausibility: 0.1,
        };
        assert_eq!(contrast_scores(&own, &other, plain), own.to_vec());
        let sharp = Contrast {
            lambda: 1.0,
            plausibility: 0.1,
        };
        let s = contrast_scores(&own, &other, sharp);
        assert!((s[0] - 0.0).abs() < 1e-6, "{s:?}");
        assert!((s[1] - (-1.0)).abs() < 1e-6, "{s:?}");
        // Token 2 is what the other pole wants but the own pole finds
        // implausible (e^-4 < 0.1 · e^-0.1): never drawn.
        assert_eq!(s[2], f32::NEG_INFINITY);
    }

    #[test]
    fn ratios_are_per_token_means() {
        let s = Sampled {
            text: "Hi.".into(),
            ids: vec![1, 2, 3, 4],
            tokens: 4,
            own_logprob: -4.0,
            other_logprob: -10.0,
        };
        assert_eq!(s.mean_own(), -1.0);
        assert_eq!(s.pole_ratio(), 1.5);
    }
}
