//! DPO preference pairs by prompt distillation (MPG paper §4.1, its expert
//! training data; issue "LoRA experts", `persona make-pairs`): for each
//! neutral user prompt the base model answers twice, once under the axis's
//! target pole prompt (chosen) and once under the opposite pole (rejected).
//! The pair's prompt is the bare user message, so an adapter trained on it
//! learns the pole without being told.
//!
//! Generation is batched: every (prompt, pole) pair is one row of the same
//! forward call, each row with its own ChaCha8 stream seeded from the seed,
//! the prompt's index and the pole, so the text does not depend on the batch
//! size.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Readout, RowId, RowStep};
use crate::engine::sampling::{sample, Sampling};
use crate::engine::Engine;
use crate::model::{ChatMessage, Role};
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
    /// Prompts per batched forward (each contributes two rows).
    pub batch: usize,
}

/// Answers every prompt after the `chosen` and after the `rejected`
/// conversation (a pole's system prompt and few-shot turns); `progress` gets
/// the number of prompts done so far. Each pole's context is prefilled once
/// and every answer's row forks from it.
pub async fn make_pairs<B: Backend>(
    engine: &mut Engine<B>,
    chosen: &[ChatMessage],
    rejected: &[ChatMessage],
    prompts: &[String],
    settings: PairSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<Pair>> {
    if settings.batch == 0 || settings.max_tokens == 0 {
        return Err(Error::InvalidInput(
            "batch and max-tokens must be at least 1".into(),
        ));
    }
    sampling(settings).validate()?;
    let mut poles = Vec::with_capacity(2);
    for context in [chosen, rejected] {
        poles.push(PoleContext::prefill(engine, context, prompts).await?);
    }
    let result = async {
        let mut pairs = Vec::with_capacity(prompts.len());
        for (b, chunk) in prompts.chunks(settings.batch).enumerate() {
            let mut jobs = Vec::with_capacity(2 * chunk.len());
            for (j, user) in chunk.iter().enumerate() {
                let index = (b * settings.batch + j) as u64;
                for (p, pole) in poles.iter().enumerate() {
                    let ids = pole.prompt_ids(engine, user)?;
                    jobs.push(Job {
                        source: pole.row,
                        shared: pole.shared,
                        suffix: ids[pole.shared..].to_vec(),
                        stream: 2 * index + p as u64,
                    });
                }
            }
            let answers = sample_rows(engine, &jobs, settings).await?;
            for (j, user) in chunk.iter().enumerate() {
                pairs.push(Pair::new(user, &answers[2 * j], &answers[2 * j + 1]));
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

/// A pole's conversation prefilled in a row, and how many of its tokens every
/// prompt after it shares.
struct PoleContext {
    context: Vec<ChatMessage>,
    row: RowId,
    shared: usize,
}

impl PoleContext {
    async fn prefill<B: Backend>(
        engine: &mut Engine<B>,
        context: &[ChatMessage],
        prompts: &[String],
    ) -> Result<Self> {
        let mut pole = Self {
            context: context.to_vec(),
            row: RowId(0),
            shared: usize::MAX,
        };
        let mut first: Option<Vec<u32>> = None;
        for user in prompts {
            let ids = pole.prompt_ids(engine, user)?;
            let reference = first.get_or_insert_with(|| ids.clone());
            let common = reference
                .iter()
                .zip(&ids)
                .take_while(|(a, b)| a == b)
                .count();
            pole.shared = pole.shared.min(common);
        }
        let Some(first) = first else {
            return Err(Error::InvalidInput("no prompts".into()));
        };
        // Every answer row needs at least one token of its own to read out.
        pole.shared = pole.shared.min(first.len() - 1);
        pole.row = engine.backend.new_row()?;
        let step = RowStep {
            row: pole.row,
            tokens: &first[..pole.shared],
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
}

/// One answer to sample: a fork of `source`'s first `shared` positions, then `suffix`.
struct Job {
    source: RowId,
    shared: usize,
    suffix: Vec<u32>,
    stream: u64,
}

/// Samples one answer per job, all rows in one forward per step.
async fn sample_rows<B: Backend>(
    engine: &mut Engine<B>,
    jobs: &[Job],
    settings: PairSettings,
) -> Result<Vec<String>> {
    let sampling = sampling(settings);
    let eos = engine.tokenizer.eos_id;
    let mut rows = Vec::with_capacity(jobs.len());
    for job in jobs {
        match engine.backend.fork_row(job.source, job.shared) {
            Ok(row) => rows.push(row),
            Err(e) => {
                rows.into_iter().for_each(|r| engine.backend.free_row(r));
                return Err(e);
            }
        }
    }
    let result = async {
        let mut rngs: Vec<ChaCha8Rng> = jobs
            .iter()
            .map(|job| {
                let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
                rng.set_stream(job.stream);
                rng
            })
            .collect();
        let steps: Vec<RowStep> = rows
            .iter()
            .zip(jobs)
            .map(|(&row, job)| RowStep {
                row,
                tokens: &job.suffix,
                readout: Readout::Last,
            })
            .collect();
        let mut logprobs = engine.backend.forward(&steps).await?;
        let mut answers: Vec<Vec<u32>> = vec![Vec::new(); jobs.len()];
        let mut finished = vec![false; jobs.len()];
        let mut active: Vec<usize> = (0..jobs.len()).collect();
        while !active.is_empty() {
            let mut next = Vec::with_capacity(active.len());
            for (lp, &i) in logprobs.iter().zip(&active) {
                let token = sample(lp.last(), &sampling, &mut rngs[i]);
                if token == eos {
                    finished[i] = true;
                    continue;
                }
                answers[i].push(token);
                if answers[i].len() < settings.max_tokens {
                    next.push(i);
                }
            }
            active = next;
            if active.is_empty() {
                break;
            }
            let steps: Vec<RowStep> = active
                .iter()
                .map(|&i| RowStep {
                    row: rows[i],
                    tokens: std::slice::from_ref(answers[i].last().unwrap_or(&eos)),
                    readout: Readout::Last,
                })
                .collect();
            logprobs = engine.backend.forward(&steps).await?;
        }
        answers
            .iter()
            .zip(&finished)
            .map(|(ids, &done)| {
                let text = engine.tokenizer.decode(ids)?;
                Ok(if done {
                    text.trim().to_string()
                } else {
                    trim_to_sentence(&text)
                })
            })
            .collect::<Result<Vec<String>>>()
    }
    .await;
    for row in rows {
        engine.backend.free_row(row);
    }
    result
}

/// Share of an answer's word trigrams that repeat an earlier one (0 for
/// fresh text, near 1 for a loop): pairs with a degenerate answer teach the
/// adapter to loop, not the pole.
pub fn repetition(text: &str) -> f64 {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    if words.len() < 4 {
        return 0.0;
    }
    let trigrams: Vec<&[String]> = words.windows(3).collect();
    let distinct: std::collections::HashSet<&[String]> = trigrams.iter().copied().collect();
    1.0 - distinct.len() as f64 / trigrams.len() as f64
}

/// Cuts an answer that ran out of tokens back to its last finished sentence
/// (when that keeps at least half of it), so no pair ends mid-word.
pub fn trim_to_sentence(text: &str) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .rev()
        .find(|&(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map(|(i, c)| i + c.len_utf8());
    match end {
        Some(end) if end == text.len() || end * 2 >= text.len() => text[..end].trim().to_string(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_to_the_last_sentence_when_it_keeps_half() {
        assert_eq!(
            trim_to_sentence("The first sentence is long. Then it is cu"),
            "The first sentence is long."
        );
        assert_eq!(
            trim_to_sentence("Short. And then a very long tail that goes on"),
            "Short. And then a very long tail that goes on"
        );
        assert_eq!(trim_to_sentence("  Done.  "), "Done.");
        assert_eq!(trim_to_sentence("no end at all"), "no end at all");
    }

    #[test]
    fn repetition_separates_loops_from_prose() {
        assert_eq!(
            repetition("Take the train early and bring a good book along."),
            0.0
        );
        let looped = "Good. Good. Good. Good. Good. Good. Good. Good.";
        assert!(repetition(looped) > 0.6, "{}", repetition(looped));
        assert_eq!(repetition("Hi there"), 0.0);
    }

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
