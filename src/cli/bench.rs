//! `persona bench`: the engine's speed, written into docs/BENCHMARKS.md by
//! section: the methods' efficiency table, re-runs from the prefix cache,
//! the WebGPU backend's cost per token, and prefill and decode of both CPU
//! kernel families side by side with llama.cpp (`bench_cpu`).

use std::path::{Path, PathBuf};

use clap::Args;

use super::bench_cpu::{run_cpu, CpuBench};
use super::bench_llama_cpp::LlamaCpp;
use super::bench_methods::{run_methods, write_section, MethodsArgs};
use super::bench_reuse::run_reuse;
use super::load::{self, load_engine, read_model};
use crate::{Error, Result};

#[derive(Args)]
pub(super) struct BenchArgs {
    /// Prompt length for the prefill measurement.
    #[arg(long, default_value_t = 64)]
    prefill_tokens: usize,
    /// Tokens generated (one forward each) for the decode measurement.
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Python with llama-cpp-python installed (`scripts/setup.sh refs` makes .venv).
    #[arg(long, default_value = ".venv/bin/python")]
    python: PathBuf,
    /// Skip llama.cpp (report the engine alone).
    #[arg(long)]
    no_llama_cpp: bool,
    /// Markdown report to write.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    out: PathBuf,
    /// Which sections to run (`reuse`: re-runs and new turns from the prefix
    /// cache; `webgpu`: the WebGPU backend's cost per token, only when asked
    /// for; on lavapipe its speed is software's).
    #[arg(long, default_value = "all", value_parser = ["all", "cpu", "methods", "reuse", "webgpu"])]
    only: String,
    #[command(flatten)]
    methods: MethodsArgs,
}

pub(super) fn run(model: &Path, args: BenchArgs) -> Result<()> {
    if args.repeats == 0 || args.decode_tokens == 0 || args.prefill_tokens == 0 {
        return Err(Error::InvalidInput(
            "repeats, prefill and decode tokens must be at least 1".into(),
        ));
    }
    if args.only == "webgpu" {
        return super::bench_webgpu::run(
            model,
            args.prefill_tokens,
            args.decode_tokens,
            &args.methods,
            &args.out,
        );
    }
    if args.only == "reuse" || args.only == "all" {
        let section = run_reuse(model, &args.methods, args.repeats)?;
        println!("{section}");
        write_section(
            &args.out,
            "## Re-runs and new turns: the prefix cache",
            &section,
        )?;
        if args.only == "reuse" {
            return Ok(());
        }
    }
    if args.only != "cpu" {
        // The methods table is a one-thread table (issue 13 asks for it so).
        let mut engine = load_engine(model, load::quantized())?;
        engine.backend.set_threads(1)?;
        let section = run_methods(&mut engine, &args.methods)?;
        println!("{section}");
        write_section(
            &args.out,
            "## Methods: the papers' efficiency table",
            &section,
        )?;
        if args.only == "methods" {
            return Ok(());
        }
    }
    let mut llama: Vec<LlamaCpp> = Vec::new();
    if !args.no_llama_cpp {
        for t in [1, 2] {
            llama.push(LlamaCpp::start(&args.python, model, t)?);
        }
    }
    let file = read_model(model)?;
    let bench = CpuBench {
        model,
        prefill_tokens: args.prefill_tokens,
        decode_tokens: args.decode_tokens,
        repeats: args.repeats,
    };
    let report = run_cpu(&bench, &file, llama)?;
    println!("{report}");
    write_section(
        &args.out,
        "## CPU decode and prefill, side by side",
        &report,
    )
}
