//! DPO preference pairs by prompt distillation (MPG paper §4.1, its expert
//! training data; issue "LoRA experts", `persona make-pairs`): for each
//! neutral user prompt the base model answers twice, once under the axis's
//! target pole prompt (chosen) and once under the opposite pole (rejected).
//! The pair's prompt is the bare user message, so an adapter trained on it
//! learns the pole without being told.
//!
//! The answers are drawn contrastively and come back with their pole
//! likelihood ratio (`pole_sampler`), which `pair_filter` uses to keep the
//! pairs that really differ in the axis (issue "Steering you can see").

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::engine::sampling::Sampling;
use crate::engine::Engine;
use crate::model::ChatMessage;
use crate::train::pole_sampler::{
    relevance, sample_answers, AnswerJob, Contrast, PoleContext, Sampled,
};
use crate::{Error, Result};

/// One preference pair in trl's conversational shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub prompt: Vec<Turn>,
    pub chosen: Vec<Turn>,
    pub rejected: Vec<Turn>,
}

/// A chat turn as trl and Hugging Face chat templates write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    pub role: String,
    pub content: String,
}

impl Pair {
    pub fn new(user: &str, chosen: &str, rejected: &str) -> Self {
        let turn = |role: &str, content: &str| {
            vec![Turn {
                role: role.into(),
                content: content.into(),
            }]
        };
        Self {
            prompt: turn("user", user),
            chosen: turn("assistant", chosen),
            rejected: turn("assistant", rejected),
        }
    }

    /// The user message (the last prompt turn).
    pub fn user(&self) -> &str {
        self.prompt.last().map_or("", |t| &t.content)
    }

    pub fn chosen_text(&self) -> &str {
        self.chosen.last().map_or("", |t| &t.content)
    }

    pub fn rejected_text(&self) -> &str {
        self.rejected.last().map_or("", |t| &t.content)
    }
}

/// Pairs from JSON lines (the file `make-pairs` writes).
pub fn pairs_from_jsonl(text: &str) -> Result<Vec<Pair>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let pair: Pair = serde_json::from_str(l).map_err(|e| {
                Error::InvalidInput(format!(
                    "pairs line {}: {e}; expected {{\"prompt\": [{{\"role\": \"user\", \"content\": ...}}], \"chosen\": [...], \"rejected\": [...]}}",
                    i + 1
                ))
            })?;
            if pair.user().trim().is_empty()
                || pair.chosen_text().trim().is_empty()
                || pair.rejected_text().trim().is_empty()
            {
                return Err(Error::InvalidInput(format!(
                    "pairs line {}: prompt, chosen and rejected must all be non-empty",
                    i + 1
                )));
            }
            Ok(pair)
        })
        .collect()
}

/// How the two answers of each pair are sampled.
#[derive(Debug, Clone, Copy)]
pub struct PairSettings {
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub seed: u64,
    /// Prompts per batched forward (each contributes four rows: two answers,
    /// each read under both poles).
    pub batch: usize,
    pub contrast: Contrast,
}

/// A pair with both answers' pole likelihoods (see [`Sampled`]) and how
/// much each answer belongs to its question ([`relevance`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredPair {
    pub pair: Pair,
    pub chosen: Sampled,
    pub rejected: Sampled,
    /// Nats per token, chosen then rejected.
    pub relevance: [f64; 2],
}

impl ScoredPair {
    /// How much more the chosen answer belongs to the chosen pole than the
    /// rejected answer does, in nats per token: the chosen answer's
    /// log (π_first / π_second) minus the rejected answer's.
    pub fn margin(&self) -> f64 {
        self.chosen.pole_ratio() + self.rejected.pole_ratio()
    }
}

/// Answers every prompt after the `chosen` and after the `rejected`
/// conversation (a pole's system prompt and few-shot turns), contrastively
/// (`pole_sampler`), and scores each answer's relevance to its prompt under
/// the plain model; `progress` gets the number of prompts done so far.
/// Each context is prefilled once and every answer's rows fork from it.
pub async fn make_pairs<B: Backend>(
    engine: &mut Engine<B>,
    chosen: &[ChatMessage],
    rejected: &[ChatMessage],
    prompts: &[String],
    settings: PairSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<ScoredPair>> {
    if settings.batch == 0 || settings.max_tokens == 0 {
        return Err(Error::InvalidInput(
            "batch and max-tokens must be at least 1".into(),
        ));
    }
    let Contrast {
        lambda,
        plausibility,
    } = settings.contrast;
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(Error::InvalidInput(format!(
            "contrast must be a number >= 0, got {lambda}"
        )));
    }
    if !(plausibility > 0.0 && plausibility <= 1.0) {
        return Err(Error::InvalidInput(format!(
            "plausibility must be in (0, 1], got {plausibility}"
        )));
    }
    let sampling = sampling(settings);
    sampling.validate()?;
    let mut poles = Vec::with_capacity(2);
    for context in [chosen, rejected, &[]] {
        match PoleContext::prefill(engine, context, prompts).await {
            Ok(pole) => poles.push(pole),
            Err(e) => {
                poles.iter().for_each(|p| engine.backend.free_row(p.row));
                return Err(e);
            }
        }
    }
    let result = async {
        let mut pairs = Vec::with_capacity(prompts.len());
        for (b, chunk) in prompts.chunks(settings.batch).enumerate() {
            let mut jobs = Vec::with_capacity(2 * chunk.len());
            for (j, user) in chunk.iter().enumerate() {
                let index = (b * settings.batch + j) as u64;
                let first = poles[0].view(engine, user)?;
                let second = poles[1].view(engine, user)?;
                jobs.push(AnswerJob {
                    own: first.clone(),
                    other: second.clone(),
                    stream: 2 * index,
                });
                jobs.push(AnswerJob {
                    own: second,
                    other: first,
                    stream: 2 * index + 1,
                });
            }
            let answers = sample_answers(
                engine,
                &jobs,
                sampling,
                settings.contrast,
                settings.max_tokens,
            )
            .await?;
            for (j, user) in chunk.iter().enumerate() {
                let index = b * settings.batch + j;
                let foreign = &prompts[(index + 1) % prompts.len()];
                let (c, r) = (&answers[2 * j], &answers[2 * j + 1]);
                let fit = relevance(engine, &poles[2], user, foreign, &[&c.ids, &r.ids]).await?;
                pairs.push(ScoredPair {
                    pair: Pair::new(user, &c.text, &r.text),
                    chosen: c.clone(),
                    rejected: r.clone(),
                    relevance: [fit[0], fit[1]],
                });
            }
            progress(pairs.len());
        }
        Ok(pairs)
    }
    .await;
    for pole in poles {
        engine.backend.free_row(pole.row);
    }
    result
}

fn sampling(settings: PairSettings) -> Sampling {
    Sampling::TopP {
        temperature: settings.temperature,
        top_p: settings.top_p,
        seed: settings.seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_through_jsonl_in_trl_shape() {
        let pair = Pair::new("Hi?", "Hello!", "Hm.");
        let line = serde_json::to_string(&pair).unwrap();
        assert_eq!(
            line,
            r#"{"prompt":[{"role":"user","content":"Hi?"}],"chosen":[{"role":"assistant","content":"Hello!"}],"rejected":[{"role":"assistant","content":"Hm."}]}"#
        );
        assert_eq!(
            pairs_from_jsonl(&format!("{line}\n\n{line}\n")).unwrap(),
            vec![pair.clone(), pair]
        );
        let err = pairs_from_jsonl("{\"prompt\": 3}").unwrap_err().to_string();
        assert!(err.contains("pairs line 1"), "{err}");
        let empty = serde_json::to_string(&Pair::new("Hi?", " ", "x")).unwrap();
        let err = pairs_from_jsonl(&empty).unwrap_err().to_string();
        assert!(err.contains("non-empty"), "{err}");
    }
}
