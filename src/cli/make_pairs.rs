//! `persona make-pairs`: DPO preference pairs for one axis by prompt
//! distillation (see `train::pairs`), drawn contrastively and filtered
//! (`train::pole_sampler`, `train::pair_filter`), written as trl-shaped JSON
//! lines with a card beside them (`<out>.card.md`) saying how they were made.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::load::load_engine;
use crate::backend::cpu::WeightMode;
use crate::steer::persona::{experts_path, load_experts};
use crate::steer::probe::items_from_jsonl;
use crate::train::distill::{load_shots, pole_context, shots_path};
use crate::train::pair_filter::{
    select, summary, verdict, without_probe_prompts, Dropped, Selection,
};
use crate::train::pairs::{make_pairs, PairSettings, ScoredPair};
use crate::train::pole_sampler::Contrast;
use crate::{Error, Result};

#[derive(Args)]
pub(super) struct MakePairsArgs {
    /// The axis, "FIRST-SECOND" as in the experts file (E-I, S-N, T-F, J-P,
    /// formal-casual, cheerful-gloomy): chosen answers come from the first
    /// pole's prompt, rejected ones from the second's.
    #[arg(long)]
    pub axis: String,
    /// Pole prompts (`[[expert]]` tables).
    #[arg(long, default_value_os_t = experts_path())]
    pub experts: PathBuf,
    /// Few-shot exchanges per pole, shown before each prompt (not saved in the pairs).
    #[arg(long, default_value_os_t = shots_path())]
    pub shots: PathBuf,
    /// Drop pairs where either answer repeats more than this share of its word trigrams.
    #[arg(long, default_value_t = 0.25)]
    pub max_repetition: f64,
    /// λ of the contrastive draw: each token from π_own^(1+λ) / π_other^λ
    /// over the two pole contexts (0: plain sampling under the own pole).
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub contrast: f32,
    /// With a contrast, only tokens at least this share of the own pole's
    /// most likely token are drawn.
    #[arg(long, default_value_t = 0.1)]
    pub plausibility: f32,
    /// Drop pairs whose pole margin (chosen's log π_first/π_second minus
    /// rejected's, nats per token) is below this.
    #[arg(long, default_value_t = 0.3, allow_hyphen_values = true)]
    pub min_margin: f64,
    /// Drop pairs where an answer's mean log-prob per token under its own
    /// pole is below this (nats).
    #[arg(long, default_value_t = -3.0, allow_hyphen_values = true)]
    pub min_fluency: f64,
    /// Drop pairs where an answer is less than this much likelier (nats per
    /// token, plain model) after its own question than after an unrelated one.
    #[arg(long, default_value_t = 0.3, allow_hyphen_values = true)]
    pub min_relevance: f64,
    /// Also write every generated pair with its scores (margin, fluency,
    /// relevance, kept or the rule that dropped it) as JSON lines here.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Probe item files (JSON lines with a prompt): their prompts are never
    /// used for pairs.
    #[arg(long, num_args = 1.., default_values_os_t = default_probe_files())]
    pub probe: Vec<PathBuf>,
    /// Neutral user prompts, one per line.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/prompts/neutral.txt"))]
    pub prompts: PathBuf,
    /// Output JSON lines ({prompt, chosen, rejected} in trl's conversational shape).
    #[arg(long)]
    pub out: PathBuf,
    /// Only the first N prompts.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Prompts per batched forward (two rows each).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
}

pub(super) fn run(model: &Path, args: MakePairsArgs) -> Result<()> {
    let experts = load_experts(&args.experts)?;
    let pole = |name: &str| {
        experts
            .iter()
            .find(|e| e.name.trim() == name && e.axis.trim() == args.axis.trim())
    };
    let (first, second) = args.axis.split_once('-').ok_or_else(|| {
        Error::InvalidInput(format!(
            "axis '{}' is not of the form FIRST-SECOND (e.g. E-I)",
            args.axis
        ))
    })?;
    let (Some(chosen), Some(rejected)) = (pole(first.trim()), pole(second.trim())) else {
        let axes: std::collections::BTreeSet<&str> =
            experts.iter().map(|e| e.axis.as_str()).collect();
        return Err(Error::InvalidInput(format!(
            "no experts for both poles of axis '{}' in {}; axes there: {}",
            args.axis,
            args.experts.display(),
            axes.into_iter().collect::<Vec<_>>().join(", ")
        )));
    };
    let shots = load_shots(&args.shots)?;
    let text = std::fs::read_to_string(&args.prompts)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.prompts.display())))?;
    let prompts: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut probe_prompts = Vec::new();
    for path in &args.probe {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))?;
        probe_prompts.extend(items_from_jsonl(&text)?.into_iter().map(|i| i.prompt));
    }
    let (mut prompts, probe_removed) = without_probe_prompts(prompts, &probe_prompts);
    if let Some(limit) = args.limit {
        prompts.truncate(limit);
    }
    if prompts.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no prompts in {} (besides probe items)",
            args.prompts.display()
        )));
    }
    let mut out = std::fs::File::create(&args.out)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.out.display())))?;
    // Many rows per step: f32 weights skip the per-vector-group widening of the
    // quantized blocks (1.45x faster at 16 rows, bit-identical output).
    let mut engine = load_engine(model, WeightMode::Dequantized)?;
    let bar = ProgressBar::new(prompts.len() as u64).with_style(
        ProgressStyle::with_template("pairs {bar:30} {pos}/{len} prompts, {elapsed} (eta {eta})")
            .expect("template"),
    );
    let settings = PairSettings {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
        batch: args.batch,
        contrast: Contrast {
            lambda: args.contrast,
            plausibility: args.plausibility,
        },
    };
    let started = std::time::Instant::now();
    let generated = pollster::block_on(make_pairs(
        &mut engine,
        &pole_context(chosen, &shots),
        &pole_context(rejected, &shots),
        &prompts,
        settings,
        &mut |done| bar.set_position(done as u64),
    ))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let margins_before: Vec<f64> = generated.iter().map(ScoredPair::margin).collect();
    let relevance: Vec<f64> = generated.iter().flat_map(|p| p.relevance).collect();
    let selection = Selection {
        max_repetition: args.max_repetition,
        min_fluency: args.min_fluency,
        min_relevance: args.min_relevance,
        min_margin: args.min_margin,
    };
    if let Some(path) = &args.scores {
        write_scores(path, &generated, &selection)?;
    }
    let (pairs, dropped) = select(generated, &selection);
    for pair in &pairs {
        let line = serde_json::to_string(&pair.pair).expect("pairs serialise");
        writeln!(out, "{line}")
            .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.out.display())))?;
    }
    let card_path = args.out.with_extension("card.md");
    let card = Card {
        args: &args,
        chosen: &chosen.name,
        rejected: &rejected.name,
        prompts: prompts.len(),
        probe_removed,
        margins_before: &margins_before,
        relevance: &relevance,
        pairs: &pairs,
        dropped,
        seconds,
    };
    std::fs::write(&card_path, card.markdown())
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", card_path.display())))?;
    eprintln!(
        "{} pairs for axis {} ({} chosen, {} rejected; {} dropped: {} repetitive, {} duplicate, {} disfluent, {} drifted, {} weak margin) in {seconds:.0} s -> {} (card {})",
        pairs.len(),
        args.axis,
        chosen.name,
        rejected.name,
        dropped.total(),
        dropped.repetitive,
        dropped.duplicate,
        dropped.disfluent,
        dropped.drifted,
        dropped.weak_margin,
        args.out.display(),
        card_path.display()
    );
    Ok(())
}

/// Every generated pair with its scores and verdict, one JSON object a line.
fn write_scores(path: &Path, generated: &[ScoredPair], selection: &Selection) -> Result<()> {
    let mut text = String::new();
    for p in generated {
        let line = serde_json::json!({
            "prompt": p.pair.user(),
            "chosen": p.pair.chosen_text(),
            "rejected": p.pair.rejected_text(),
            "margin": p.margin(),
            "fluency": [p.chosen.mean_own(), p.rejected.mean_own()],
            "relevance": p.relevance,
            "verdict": verdict(p, selection),
        });
        text.push_str(&format!("{line}\n"));
    }
    std::fs::write(path, text).map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))
}

fn default_probe_files() -> Vec<PathBuf> {
    ["mbti", "roleplay"]
        .map(|f| Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/probe/{f}.jsonl")))
        .to_vec()
}

/// What the data card records.
struct Card<'a> {
    args: &'a MakePairsArgs,
    chosen: &'a str,
    rejected: &'a str,
    prompts: usize,
    probe_removed: usize,
    margins_before: &'a [f64],
    relevance: &'a [f64],
    pairs: &'a [ScoredPair],
    dropped: Dropped,
    seconds: f64,
}

impl Card<'_> {
    fn markdown(&self) -> String {
        let a = self.args;
        let stats = |values: &[f64]| match summary(values) {
            Some((mean, p10, p50, p90)) => {
                format!("mean {mean:+.3}, 10% {p10:+.3}, median {p50:+.3}, 90% {p90:+.3}")
            }
            None => "none".into(),
        };
        let kept: Vec<f64> = self.pairs.iter().map(ScoredPair::margin).collect();
        let fluency: Vec<f64> = self
            .pairs
            .iter()
            .flat_map(|p| [p.chosen.mean_own(), p.rejected.mean_own()])
            .collect();
        let file = |p: &Path| {
            p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(p)
                .display()
                .to_string()
        };
        let probe: Vec<String> = a.probe.iter().map(|p| file(p)).collect();
        format!(
            "# Pairs {axis}: {chosen} (chosen) vs {rejected} (rejected)\n\n\
             Written by `persona make-pairs` with the card; {kept} pairs in `{out}`.\n\n\
             ## How they were made\n\
             - Prompts: the first {prompts} of `{prompts_file}` after removing the {probe_removed} that are probe items ({probe}).\n\
             - Each prompt answered twice, after the {chosen} pole's and after the {rejected} pole's system prompt (`{experts}`) and few-shot turns (`{shots}`); the pair's prompt is the bare user message.\n\
             - Contrastive draw: each token from π_own^(1+λ) / π_other^λ over the two pole contexts, λ = {lambda} (with λ > 0 only tokens with π_own ≥ {plaus} · max π_own); temperature {t}, top-p {top_p}, at most {max} tokens, seed {seed}.\n\
             - Kept when both answers repeat at most {rep} of their word trigrams, neither repeats an earlier answer or its partner, both read at least {fluency} nats per token under their own pole, both are at least {relevance} nats per token likelier under the plain model after their own question than after the next prompt's (relevance), and the pole margin (chosen's log π_{chosen}/π_{rejected} minus rejected's, per token) is at least {margin} nats.\n\n\
             ## Counts\n\
             | generated | repetitive | duplicate | disfluent | drifted | weak margin | kept |\n|---:|---:|---:|---:|---:|---:|---:|\n\
             | {generated} | {d_rep} | {d_dup} | {d_flu} | {d_drift} | {d_margin} | {kept} |\n\n\
             - Pole margin (nats per token), all generated pairs: {before}.\n\
             - Pole margin, kept pairs: {after}.\n\
             - Own-pole log-prob per token of the kept answers: {fl}.\n\
             - Relevance (nats per token), all generated answers: {rel}.\n\
             - Generation took {secs:.0} s.\n",
            axis = a.axis,
            chosen = self.chosen,
            rejected = self.rejected,
            kept = self.pairs.len(),
            out = file(&a.out),
            prompts = self.prompts,
            prompts_file = file(&a.prompts),
            probe_removed = self.probe_removed,
            probe = probe.join(", "),
            experts = file(&a.experts),
            shots = file(&a.shots),
            lambda = a.contrast,
            plaus = a.plausibility,
            t = a.temperature,
            top_p = a.top_p,
            max = a.max_tokens,
            seed = a.seed,
            rep = a.max_repetition,
            fluency = a.min_fluency,
            margin = a.min_margin,
            generated = self.margins_before.len(),
            d_rep = self.dropped.repetitive,
            d_dup = self.dropped.duplicate,
            d_flu = self.dropped.disfluent,
            d_drift = self.dropped.drifted,
            relevance = a.min_relevance,
            d_margin = self.dropped.weak_margin,
            before = stats(self.margins_before),
            after = stats(&kept),
            fl = stats(&fluency),
            rel = stats(self.relevance),
            secs = self.seconds,
        )
    }
}
