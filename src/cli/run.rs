//! `persona run`: one steering method end to end, streaming the answer and
//! optionally writing the trace JSON the playground draws and replays.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::load::{self, load_engine};
use crate::backend::cpu::CpuBackend;
use crate::engine::{Engine, Sampling};
use crate::model::lora::LoraAdapter;
use crate::steer::persona::{experts_path, load_experts, Persona};
use crate::steer::{run as run_method, Event, Method, RunConfig};
use crate::steer::{Reference, Target, WeightedExpert};
use crate::{Error, Result};

#[derive(Args, Clone)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pub method: MethodArgs,
    #[arg(long)]
    pub user: String,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Write every event (importance, tokens, chunks, statistics) as JSON.
    #[arg(long)]
    pub trace: Option<PathBuf>,
}

/// A method and its settings (shared by `run` and `probe`).
#[derive(Args, Clone)]
pub(super) struct MethodArgs {
    /// A decoding method: base, pp, pdd, scr, mod, token-rs, seq-rs, soups, … (an unknown
    /// name lists every method of the registry).
    #[arg(long, value_parser = parse_method)]
    pub method: Method,
    /// Persona TOML file, or the name of a preset in assets/personas (e.g. captain_mara_vey).
    #[arg(long)]
    pub persona: Option<String>,
    /// Expert weight, repeatable: `--alpha E=1.0 --alpha T=-0.5` (names from --experts,
    /// --adapter, or `plain`: the plain model, e.g. MOD with `--alpha A=0.5 --alpha plain=0.5`).
    #[arg(long = "alpha", value_parser = parse_alpha)]
    pub alpha: Vec<(String, f64)>,
    /// Prompt experts (TOML); default: the eight MBTI poles.
    #[arg(long)]
    pub experts: Option<PathBuf>,
    /// A PEFT LoRA adapter folder as an expert, repeatable: `--adapter extravert=DIR`;
    /// `--alpha extravert=1.0` then weights it.
    #[arg(long = "adapter", value_parser = parse_adapter)]
    pub adapters: Vec<(String, PathBuf)>,
    /// Proposal / reference view of SCR and the RS methods: plain or persona.
    #[arg(long, default_value = "plain", value_parser = parse_reference)]
    pub reference: Reference,
    #[arg(long, default_value_t = 4)]
    pub k: usize,
    #[arg(long, default_value_t = 1.0)]
    pub beta: f64,
    #[arg(long, default_value_t = 2)]
    pub top_k: usize,
    /// Length of PDD's greedy PIE answer.
    #[arg(long, default_value_t = 48)]
    pub pie_tokens: usize,
    /// Use PDD's raw importance (nats) instead of scaling it to unit L1 norm.
    #[arg(long)]
    pub raw_importance: bool,
    /// PDD importance weights set by hand, one per attribute: `0.5,0,1`.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub weights: Option<Vec<f64>>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample final decisions (Base, PP, PDD, MOD) at this temperature instead of greedily.
    #[arg(long, allow_hyphen_values = true)]
    pub temperature: Option<f32>,
    #[arg(long, allow_hyphen_values = true)]
    pub top_p: Option<f32>,
    /// `log M0`, SCR's bound during warm-up (default: log Σ positive α + log γ).
    #[arg(long, allow_hyphen_values = true)]
    pub log_m0: Option<f64>,
    /// Turn off SCR's prefix salvage.
    #[arg(long)]
    pub no_salvage: bool,
    /// What SCR / Token-RS / Seq-RS accept toward: `tempered` (q·R, the
    /// tempered reference reweighted: the paper's practice) or `mpg` (the MPG
    /// target itself, the test dividing by the proposal q).
    #[arg(long, default_value = "tempered")]
    pub target: Target,
    /// Divide every α by their sum (MOD: a weighted geometric average; Soups:
    /// a weighted average of the adapters' deltas).
    #[arg(long)]
    pub normalize_alpha: bool,
    /// Exact chunk-level MPG sampling: T 1, top-p 1, target mpg, no salvage,
    /// a fixed conservative bound (or `--log-m`), rejected chunks proposed again.
    #[arg(long)]
    pub exact: bool,
    /// A fixed bound `log M` for the rejection samplers (no online estimate).
    #[arg(long, allow_hyphen_values = true)]
    pub log_m: Option<f64>,
    /// Whole answers drawn at most (Seq-RS's tries, Best-of-N's N).
    #[arg(long, default_value_t = RunConfig::default().max_seq_tries)]
    pub max_seq_tries: usize,
}

fn parse_method(s: &str) -> std::result::Result<Method, String> {
    s.parse::<Method>().map_err(|e| e.to_string())
}

fn parse_reference(s: &str) -> std::result::Result<Reference, String> {
    match s {
        "plain" => Ok(Reference::Plain),
        "persona" => Ok(Reference::Persona),
        "soup" => Ok(Reference::Soup),
        _ => Err(format!("reference '{s}': choose plain, persona or soup")),
    }
}

fn parse_adapter(s: &str) -> std::result::Result<(String, PathBuf), String> {
    let (name, dir) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': write NAME=DIR"))?;
    Ok((name.trim().to_string(), PathBuf::from(dir)))
}

fn parse_alpha(s: &str) -> std::result::Result<(String, f64), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}': write NAME=VALUE, e.g. E=1.0"))?;
    let v: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a number"))?;
    Ok((name.trim().to_string(), v))
}

/// A persona file, or a preset by name.
pub(super) fn find_persona(spec: &str) -> Result<Persona> {
    let path = Path::new(spec);
    if path.exists() {
        return Persona::load(path);
    }
    let preset = Persona::presets_dir().join(format!("{spec}.toml"));
    if preset.exists() {
        return Persona::load(preset);
    }
    let names: Vec<String> = std::fs::read_dir(Persona::presets_dir())
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .path()
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
            })
            .filter(|n| n != "experts")
            .collect()
        })
        .unwrap_or_default();
    Err(Error::InvalidInput(format!(
        "no persona file '{spec}' and no preset of that name; presets: {}",
        names.join(", ")
    )))
}

impl MethodArgs {
    /// The run configuration, with persona and experts resolved; adapters
    /// named by `--adapter` are loaded into `engine`'s backend.
    pub(super) fn config(
        &self,
        engine: &mut Engine<CpuBackend>,
        user: &str,
        max_tokens: usize,
    ) -> Result<RunConfig> {
        let persona = self.persona.as_deref().map(find_persona).transpose()?;
        let mut experts = Vec::new();
        if !self.alpha.is_empty() {
            let known = load_experts(self.experts.clone().unwrap_or_else(experts_path))?;
            let mut loaded = Vec::new();
            for (name, dir) in &self.adapters {
                let adapter = LoraAdapter::load(dir, engine.config())?;
                loaded.push((name.clone(), engine.backend.add_adapter(adapter)));
            }
            for (name, alpha) in &self.alpha {
                if let Some((n, id)) = loaded.iter().find(|(n, _)| n == name) {
                    experts.push(WeightedExpert::adapter(n, *id, *alpha));
                    continue;
                }
                if name.eq_ignore_ascii_case("plain") {
                    experts.push(WeightedExpert::plain(*alpha));
                    continue;
                }
                let e = known
                    .iter()
                    .find(|e| e.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        let mut names: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
                        names.push("plain");
                        names.extend(known.iter().map(|e| e.name.as_str()));
                        Error::InvalidInput(format!(
                            "no expert named '{name}'; experts: {}",
                            names.join(", ")
                        ))
                    })?;
                experts.push(WeightedExpert::prompt(&e.name, &e.prompt, *alpha));
            }
        }
        let sampling = match (self.temperature, self.top_p) {
            (None, None) => Sampling::Greedy,
            (t, p) => Sampling::TopP {
                temperature: t.unwrap_or(1.0),
                top_p: p.unwrap_or(1.0),
                seed: self.seed,
            },
        };
        let mut cfg = RunConfig {
            method: self.method,
            persona,
            experts,
            reference: self.reference,
            user: user.to_string(),
            max_tokens,
            seed: self.seed,
            sampling,
            max_seq_tries: self.max_seq_tries,
            normalize_alpha: self.normalize_alpha,
            ..RunConfig::default()
        };
        cfg.pdd.beta = self.beta;
        cfg.pdd.top_k = self.top_k;
        cfg.pdd.pie_tokens = self.pie_tokens;
        cfg.pdd.unit_importance = !self.raw_importance;
        cfg.pdd.weights = self.weights.clone();
        cfg.scr.k = self.k;
        cfg.scr.bound.log_m0 = self.log_m0;
        cfg.scr.salvage = !self.no_salvage;
        cfg.scr.target = self.target;
        cfg.scr.exact = self.exact;
        cfg.scr.bound.fixed = self.log_m;
        cfg.validate()?;
        Ok(cfg)
    }
}

pub(super) fn run(model: &Path, args: RunArgs) -> Result<()> {
    let mut engine = load_engine(model, load::quantized())?;
    let cfg = args
        .method
        .config(&mut engine, &args.user, args.max_tokens)?;
    let mut events = Vec::new();
    let mut text = String::new();
    let mut out = std::io::stdout().lock();
    let stats = pollster::block_on(run_method(&mut engine, &cfg, &mut |ev: Event| {
        match &ev {
            Event::Token { text: t, .. } => {
                let _ = write!(out, "{t}");
                let _ = out.flush();
                text.push_str(t);
            }
            Event::Importance {
                attributes,
                weights,
                selected,
                ..
            } => {
                let bars: Vec<String> = attributes
                    .iter()
                    .zip(weights)
                    .enumerate()
                    .map(|(i, (a, w))| {
                        format!(
                            "{}{a} {w:+.3}",
                            if selected.contains(&i) { "* " } else { "  " }
                        )
                    })
                    .collect();
                eprintln!("importance:\n  {}", bars.join("\n  "));
            }
            _ => {}
        }
        events.push(ev);
    }))?;
    let _ = writeln!(out);
    eprintln!(
        "[{} {} tokens, {:.1} tok/s, {:.2} calls/token, {:.2} row-calls/token, {:.2} token evaluations/token, rejection {:.0}%, bound violations {} of {} tests, prefill {} of {} positions, stop: {}]",
        stats.method,
        stats.tokens,
        stats.tokens_per_second,
        stats.forward_calls_per_token,
        stats.evaluations_per_token,
        stats.token_evaluations_per_token,
        100.0 * stats.rejection_rate,
        stats.bound_violations,
        stats.bound_tests,
        stats.prefill_positions,
        stats.prefill_positions_unshared,
        stats.stop_reason
    );
    if let Some(path) = &args.trace {
        let trace =
            serde_json::json!({ "version": 1, "config": cfg, "text": text, "events": events });
        std::fs::write(
            path,
            serde_json::to_string_pretty(&trace).expect("trace serialises"),
        )
        .map_err(|e| Error::InvalidInput(format!("writing the trace {}: {e}", path.display())))?;
    }
    Ok(())
}
