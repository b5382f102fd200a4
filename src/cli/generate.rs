//! `persona generate`: one chat turn, streamed to stdout, or one JSON object.

use std::io::Write;
use std::path::Path;

use clap::Args;
use serde_json::json;

use super::load::{self, load_engine};
use crate::backend::cpu::WeightMode;
use crate::backend::Backend;
use crate::engine::{GenerateParams, Sampling};
use crate::Result;

#[derive(Args)]
pub(super) struct GenerateArgs {
    /// System prompt (the template's default when left out).
    #[arg(long)]
    system: Option<String>,
    /// The user's message.
    #[arg(long)]
    user: String,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Always take the most likely token (the default unless --temperature is given).
    #[arg(long, conflicts_with_all = ["temperature", "top_p"])]
    greedy: bool,
    #[arg(long)]
    temperature: Option<f32>,
    #[arg(long)]
    top_p: Option<f32>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object (prompt ids, generated ids, text, tokens/s) instead of streaming.
    #[arg(long)]
    json: bool,
    /// Run on f32-dequantized weights (slow; for checking against references).
    #[arg(long)]
    dequantized: bool,
}

impl GenerateArgs {
    fn sampling(&self) -> Sampling {
        if self.greedy || (self.temperature.is_none() && self.top_p.is_none()) {
            Sampling::Greedy
        } else {
            Sampling::TopP {
                temperature: self.temperature.unwrap_or(1.0),
                top_p: self.top_p.unwrap_or(1.0),
                seed: self.seed,
            }
        }
    }
}

pub(super) fn run(model: &Path, args: GenerateArgs) -> Result<()> {
    let sampling = args.sampling();
    sampling.validate()?;
    let mode = if args.dequantized {
        WeightMode::Dequantized
    } else {
        load::quantized()
    };
    let mut engine = load_engine(model, mode)?;
    let backend = engine.backend.name();
    let prompt = engine.chat_prompt(args.system.as_deref(), &args.user)?;
    let mut generation = engine.generate(
        prompt,
        GenerateParams {
            max_tokens: args.max_tokens,
            sampling,
        },
    )?;
    let mut out = std::io::stdout().lock();
    while let Some(token) = pollster::block_on(generation.next_token())? {
        if !args.json {
            let _ = write!(out, "{}", token.text);
            let _ = out.flush();
        }
    }
    let s = generation.summary();
    if args.json {
        let value = json!({
            "prompt_ids": s.prompt_ids,
            "generated_ids": s.generated_ids,
            "text": s.text,
            "stop_reason": s.stop_reason,
            "tokens_per_second": s.tokens_per_second,
            "prefill_tokens_per_second": s.prefill_tokens_per_second,
            "backend": backend,
        });
        let _ = writeln!(out, "{value}");
    } else {
        let _ = writeln!(out);
        eprintln!(
            "[{} tokens, {:.1} tok/s decode, {:.1} tok/s prefill, {backend}, stop: {:?}]",
            s.generated_ids.len(),
            s.tokens_per_second,
            s.prefill_tokens_per_second,
            s.stop_reason
        );
    }
    Ok(())
}
