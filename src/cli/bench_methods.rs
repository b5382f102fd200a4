//! `persona bench` (methods section): every steering method on the same
//! prompts, persona, experts and seed, one thread, in one run — the MPG
//! paper's efficiency table (its Table 3) with our batched-call cost beside
//! the paper's model evaluations.

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::run::find_persona;
use crate::backend::Backend;
use crate::engine::Engine;
use crate::steer::persona::{experts_path, load_experts};
use crate::steer::WeightedExpert;
use crate::steer::{run, Experts, Method, RunConfig, RunStats};
use crate::{Error, Result};

#[derive(Args, Clone)]
pub(super) struct MethodsArgs {
    /// User prompts, one per line.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/prompts/bench.txt"))]
    pub prompts: PathBuf,
    /// How many of them to run (the issue asks for at least 20).
    #[arg(long, default_value_t = 20)]
    pub n_prompts: usize,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Persona for PP and PDD.
    #[arg(long, default_value = "captain_mara_vey")]
    pub persona: String,
    /// Experts and weights for SCR, MOD, Token-RS and Seq-RS.
    #[arg(long, value_delimiter = ',', default_value = "E=0.6,F=0.4")]
    pub alphas: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 4)]
    pub max_seq_tries: usize,
    /// Methods to run, e.g. `base,scr` (default: every method that needs no
    /// LoRA adapter, i.e. all but soups).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
}

#[derive(Default)]
struct Totals {
    tokens: usize,
    ms: f64,
    responses: usize,
    calls: u64,
    evals: u64,
    token_evals: u64,
    violations: u64,
    tests: u64,
    proposed: u64,
    rejected: u64,
    prefill: usize,
    prefill_unshared: usize,
}

impl Totals {
    fn add(&mut self, s: &RunStats) {
        self.tokens += s.tokens;
        self.ms += s.elapsed_ms;
        self.responses += 1;
        self.calls += s.forward_calls;
        self.evals += s.row_evaluations;
        self.token_evals += s.token_evaluations;
        self.violations += s.bound_violations;
        self.tests += s.bound_tests;
        self.proposed += s.proposed;
        self.rejected += s.rejected;
        self.prefill += s.prefill_positions;
        self.prefill_unshared += s.prefill_positions_unshared;
    }

    fn throughput(&self) -> f64 {
        self.tokens as f64 * 1000.0 / self.ms
    }
}

fn parse_alpha(s: &str) -> Result<(String, f64)> {
    let (n, v) = s
        .split_once('=')
        .ok_or_else(|| Error::InvalidInput(format!("'{s}': write NAME=VALUE")))?;
    let v = v
        .parse()
        .map_err(|_| Error::InvalidInput(format!("'{v}' is not a number")))?;
    Ok((n.to_string(), v))
}

/// The methods, persona and experts of a methods run, and each run's settings.
pub(super) struct MethodSetup {
    pub methods: Vec<Method>,
    persona: crate::steer::persona::Persona,
    experts: Vec<WeightedExpert>,
}

impl MethodSetup {
    pub(super) fn new(args: &MethodsArgs) -> Result<Self> {
        let persona = find_persona(&args.persona)?;
        let known = load_experts(experts_path())?;
        let experts = args
            .alphas
            .iter()
            .map(|s| {
                let (name, alpha) = parse_alpha(s)?;
                let e = known
                    .iter()
                    .find(|e| e.name == name)
                    .ok_or_else(|| Error::InvalidInput(format!("no expert {name}")))?;
                Ok(WeightedExpert::prompt(&name, &e.prompt, alpha))
            })
            .collect::<Result<Vec<_>>>()?;
        let methods = if args.methods.is_empty() {
            Method::ALL
                .iter()
                .copied()
                .filter(|m| m.info().experts != Experts::AdaptersOnly)
                .collect()
        } else {
            args.methods
                .iter()
                .map(|m| m.parse::<Method>())
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Self {
            methods,
            persona,
            experts,
        })
    }

    /// One response's settings: PP and PDD get the persona, the others the experts.
    pub(super) fn config(&self, method: Method, user: &str, args: &MethodsArgs) -> RunConfig {
        RunConfig {
            method,
            persona: Some(self.persona.clone()),
            experts: self.experts.clone(),
            user: user.to_string(),
            max_tokens: args.max_tokens,
            seed: args.seed,
            max_seq_tries: args.max_seq_tries,
            ..RunConfig::default()
        }
    }
}

/// The prompts of a methods run.
pub(super) fn read_prompts(args: &MethodsArgs) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(&args.prompts)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.prompts.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(args.n_prompts)
        .map(str::to_string)
        .collect())
}

/// Runs the table; returns the markdown section.
pub(super) fn run_methods<B: Backend>(
    engine: &mut Engine<B>,
    args: &MethodsArgs,
) -> Result<String> {
    let prompts = read_prompts(args)?;
    let setup = MethodSetup::new(args)?;
    let methods = setup.methods.clone();
    let bar = ProgressBar::new((methods.len() * prompts.len()) as u64).with_style(
        ProgressStyle::with_template("{msg:>8} {bar:30} {pos}/{len} responses, {elapsed}")
            .expect("template"),
    );
    // Methods interleaved prompt by prompt, so that load on this shared
    // machine falls on every method alike.
    let mut rows: Vec<(Method, Totals)> = methods.iter().map(|&m| (m, Totals::default())).collect();
    for user in &prompts {
        for (method, totals) in rows.iter_mut() {
            bar.set_message(method.name());
            let cfg = setup.config(*method, user, args);
            let stats = pollster::block_on(run(engine, &cfg, &mut |_| {}))?;
            totals.add(&stats);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let base = rows
        .iter()
        .find(|(m, _)| m.info().plain_chat)
        .map(|(_, t)| t.throughput());
    let mut table = String::from(
        "| method | tok/s | s/response | row-calls / token | token evaluations / token | batched calls / token | rejection rate | bound violations | throughput / Base | tokens |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (m, t) in &rows {
        let per = |x: u64| x as f64 / t.tokens.max(1) as f64;
        table += &format!(
            "| {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |\n",
            m.name(),
            t.throughput(),
            t.ms / 1000.0 / t.responses.max(1) as f64,
            per(t.evals),
            per(t.token_evals),
            per(t.calls),
            if t.proposed > 0 {
                format!("{:.0}%", 100.0 * t.rejected as f64 / t.proposed as f64)
            } else {
                "–".into()
            },
            if t.tests > 0 {
                format!("{} of {} tests", t.violations, t.tests)
            } else {
                "–".into()
            },
            base.map_or("–".into(), |b| format!("{:.2}x", t.throughput() / b)),
            t.tokens
        );
    }
    let pdd_prefill = rows
        .iter()
        .find(|(m, _)| m.info().importance)
        .map(|(m, t)| format!(" {}'s leave-one-out prompts share their prefix with the full persona prompt: {} prompt positions prefilled instead of {} ({:.0}% saved).", m.info().label, t.prefill, t.prefill_unshared, 100.0 * (1.0 - t.prefill as f64 / t.prefill_unshared.max(1) as f64)))
        .unwrap_or_default();
    Ok(format!(
        "## Methods: the papers' efficiency table, ours side by side\n\n\
         `persona bench` on {} prompts (`assets/prompts/bench.txt`) x up to {} new tokens, one thread, methods interleaved prompt by prompt, seed {}, \
         persona `{}` (PP, PDD: K = 2, β = 1, greedy), prompt experts {} (SCR: k = 4; Seq-RS: at most {} tries), backend {}. \
         Row-calls count every row of every forward once, however many positions it computes (how the MPG paper's Table 3 counts a model's forward pass; \
         \"Reading the cost columns\" below reconciles the two); token evaluations count rows × positions (the compute); batched calls count forwards, \
         each of which reads the weights once (our cost). Bound violations: rejection tests whose score exceeded the bound in force. Responses stop at EOS, so methods produce different token counts.{}\n\n{table}",
        prompts.len(),
        args.max_tokens,
        args.seed,
        args.persona,
        args.alphas.join(", "),
        args.max_seq_tries,
        engine.backend.name(),
        pdd_prefill
    ))
}

pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(super) fn write_section(path: &Path, heading: &str, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".to_string());
    let new = match old.find(heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map(|i| start + heading.len() + i + 1)
                .unwrap_or(old.len());
            format!("{}{}\n\n{}", &old[..start], section.trim_end(), &old[end..])
        }
        None => format!("{}\n\n{}\n", old.trim_end(), section.trim_end()),
    };
    std::fs::write(path, new)
        .map_err(|e| Error::InvalidInput(format!("writing {}: {e}", path.display())))
}
