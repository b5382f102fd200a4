//! `persona probe`: per-axis accuracy and margin of a method's distribution
//! on the held-out MBTI probe items (see `steer::probe`).

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::load::{self, load_engine};
use super::run::MethodArgs;
use crate::steer::probe::{items_from_jsonl, probe};
use crate::steer::Probe;
use crate::{Error, Result};

#[derive(Args, Clone)]
pub(super) struct ProbeArgs {
    #[command(flatten)]
    pub method: MethodArgs,
    /// Probe items (JSON lines: axis, prompt, a, b).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/probe/mbti.jsonl"))]
    pub items: PathBuf,
    /// Only this axis (E-I, S-N, T-F, J-P).
    #[arg(long)]
    pub axis: Option<String>,
    /// At most this many items per axis.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn run(model: &Path, args: ProbeArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.items)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.items.display())))?;
    let mut items = items_from_jsonl(&text)?;
    if let Some(axis) = &args.axis {
        items.retain(|i| &i.axis == axis);
        if items.is_empty() {
            return Err(Error::InvalidInput(format!(
                "no probe items for axis '{axis}'"
            )));
        }
    }
    if let Some(limit) = args.limit {
        let mut seen = std::collections::HashMap::<String, usize>::new();
        items.retain(|i| {
            let n = seen.entry(i.axis.clone()).or_default();
            *n += 1;
            *n <= limit
        });
    }
    let mut engine = load_engine(model, load::quantized())?;
    let cfg = args.method.config(&mut engine, "probe", 1)?;
    if let Probe::Proxy(why) = cfg.method.info().probe {
        eprintln!("note: {} is {why}", cfg.method.info().label);
    }
    let bar = ProgressBar::new(items.len() as u64).with_style(
        ProgressStyle::with_template("probe {bar:30} {pos}/{len} items, {elapsed}")
            .expect("template"),
    );
    let scores = pollster::block_on(probe(&mut engine, &cfg, &items, &mut |_| bar.inc(1)))?;
    bar.finish_and_clear();
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "method": cfg.method.name(), "experts": cfg.experts, "axes": scores })
        );
    } else {
        println!(
            "| axis | items | accuracy (first pole) | mean margin (nats) |\n|---|---:|---:|---:|"
        );
        for s in &scores {
            println!(
                "| {} | {} | {:.2} | {:+.3} |",
                s.axis, s.items, s.accuracy, s.margin
            );
        }
    }
    Ok(())
}
