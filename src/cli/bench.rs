//! `persona bench`: prefill and decode speed of the engine, side by side with
//! llama.cpp (llama-cpp-python, one thread, same GGUF) in one run, repeats
//! interleaved so both see the same machine load; writes docs/BENCHMARKS.md.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use indicatif::ProgressBar;

use super::bench_methods::{median, run_methods, write_section, MethodsArgs};
use super::bench_prompt::prompt_ids;
use super::bench_reuse::run_reuse;
use super::load::{self, load_engine};
use crate::backend::cpu::kernels;
use crate::backend::{AdapterId, Backend, Readout, RowStep};
use crate::engine::clock::now_ms;
use crate::engine::sampling::argmax;
use crate::model::lora::{LoraAdapter, LoraDelta, Module};
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

struct Timing {
    prefill_ms: f64,
    decode_ms: f64,
}

fn run_engine(
    engine: &mut crate::engine::Engine<crate::backend::cpu::CpuBackend>,
    n_prefill: usize,
    n_decode: usize,
) -> Result<Timing> {
    let b = &mut engine.backend;
    let row = b.new_row()?;
    let prompt = prompt_ids(n_prefill);
    let t0 = now_ms();
    let out = pollster::block_on(b.forward(&[RowStep {
        row,
        tokens: &prompt,
        readout: Readout::Last,
    }]))?;
    let t1 = now_ms();
    let mut token = argmax(out[0].last());
    for _ in 0..n_decode {
        let out = pollster::block_on(b.forward(&[RowStep {
            row,
            tokens: &[token],
            readout: Readout::Last,
        }]))?;
        token = argmax(out[0].last());
    }
    let t2 = now_ms();
    b.free_row(row);
    Ok(Timing {
        prefill_ms: t1 - t0,
        decode_ms: t2 - t1,
    })
}

/// Time of one decode step with `rows` rows (one new token each), in ms.
/// Time of one decode step with `mixes.len()` rows (row i with LoRA mix i).
fn multi_row_step(
    engine: &mut crate::engine::Engine<crate::backend::cpu::CpuBackend>,
    mixes: &[Vec<(AdapterId, f32)>],
    steps: usize,
) -> Result<f64> {
    let b = &mut engine.backend;
    let prompt = prompt_ids(32);
    let rows = mixes.len();
    let ids: Vec<_> = (0..rows).map(|_| b.new_row()).collect::<Result<_>>()?;
    for (&row, mix) in ids.iter().zip(mixes) {
        b.set_row_adapters(row, mix)?;
    }
    let prefill: Vec<RowStep> = ids
        .iter()
        .map(|&row| RowStep {
            row,
            tokens: &prompt,
            readout: Readout::None,
        })
        .collect();
    pollster::block_on(b.forward(&prefill))?;
    let tokens: Vec<[u32; 1]> = (0..rows).map(|i| [100 + i as u32]).collect();
    let t0 = now_ms();
    for _ in 0..steps {
        let step: Vec<RowStep> = ids
            .iter()
            .zip(&tokens)
            .map(|(&row, t)| RowStep {
                row,
                tokens: t,
                readout: Readout::Last,
            })
            .collect();
        pollster::block_on(b.forward(&step))?;
    }
    let ms = (now_ms() - t0) / steps as f64;
    ids.into_iter().for_each(|r| b.free_row(r));
    Ok(ms)
}

/// A deterministic random adapter of rank `r` on every projection.
fn random_adapter(config: &crate::model::LlamaConfig, r: usize, seed: u64) -> LoraAdapter {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut deltas = std::collections::HashMap::new();
    for layer in 0..config.n_layer {
        for m in Module::ALL {
            let [out, inp] = m.shape(config);
            let a = (0..r * inp)
                .map(|_| rng.random_range(-0.05..0.05))
                .collect();
            let b = (0..out * r)
                .map(|_| rng.random_range(-0.05..0.05))
                .collect();
            deltas.insert(
                (layer, m),
                LoraDelta {
                    rank: r,
                    a,
                    b,
                    scale: 2.0,
                },
            );
        }
    }
    LoraAdapter {
        name: format!("random-{seed}"),
        rank: r,
        deltas,
    }
}

struct LlamaCpp {
    child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
    version: String,
}

impl LlamaCpp {
    fn start(python: &Path, model: &Path, threads: usize) -> Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_llamacpp.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(model)
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "cannot start {} ({e}); run `scripts/setup.sh refs` or pass --no-llama-cpp",
                    python.display()
                ))
            })?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let ready = read_json(&mut stdout)?;
        let version = ready["version"].as_str().unwrap_or("?").to_string();
        Ok(Self {
            child,
            stdout,
            version,
        })
    }

    fn run(&mut self, n_prefill: usize, n_decode: usize) -> Result<Timing> {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{n_prefill} {n_decode}")
            .and_then(|_| stdin.flush())
            .map_err(|e| Error::Backend(format!("llama.cpp bench: {e}")))?;
        let v = read_json(&mut self.stdout)?;
        Ok(Timing {
            prefill_ms: v["prefill_ms"].as_f64().unwrap_or(f64::NAN),
            decode_ms: v["decode_ms"].as_f64().unwrap_or(f64::NAN),
        })
    }
}

fn read_json(r: &mut impl BufRead) -> Result<serde_json::Value> {
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| Error::Backend(format!("llama.cpp bench: {e}")))?;
    serde_json::from_str(&line)
        .map_err(|_| Error::Backend(format!("llama.cpp bench printed {line:?}")))
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
    let mut engine = load_engine(model, load::quantized())?;
    if args.only != "cpu" {
        // The methods table is a one-thread table (issue 13 asks for it so).
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
    // Ours and llama.cpp at 1 and 2 threads; warm-up each, then interleave
    // the measured repeats so all four see the same machine load.
    const THREADS: [usize; 2] = [1, 2];
    let mut llama: Vec<LlamaCpp> = Vec::new();
    if !args.no_llama_cpp {
        for t in THREADS {
            llama.push(LlamaCpp::start(&args.python, model, t)?);
        }
    }
    for &t in &THREADS {
        engine.backend.set_threads(t)?;
        run_engine(&mut engine, 8, 4)?;
    }
    for l in llama.iter_mut() {
        l.run(8, 4)?;
    }
    let bar = ProgressBar::new(args.repeats as u64);
    let mut ours: Vec<Vec<Timing>> = THREADS.iter().map(|_| Vec::new()).collect();
    let mut theirs: Vec<Vec<Timing>> = llama.iter().map(|_| Vec::new()).collect();
    for _ in 0..args.repeats {
        for (i, &t) in THREADS.iter().enumerate() {
            engine.backend.set_threads(t)?;
            ours[i].push(run_engine(
                &mut engine,
                args.prefill_tokens,
                args.decode_tokens,
            )?);
        }
        for (l, out) in llama.iter_mut().zip(theirs.iter_mut()) {
            out.push(l.run(args.prefill_tokens, args.decode_tokens)?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Batched steps on one thread: 1, 3 and 12 rows; 3 rows of which two
    // carry a rank-8 adapter on all seven projections (the MPG paper's r).
    engine.backend.set_threads(1)?;
    let experts: Vec<AdapterId> = (0..2)
        .map(|i| {
            engine
                .backend
                .add_adapter(random_adapter(engine.config(), 8, i))
        })
        .collect();
    let (mut one, mut three, mut twelve, mut three_lora) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..7 {
        one.push(multi_row_step(&mut engine, &[vec![]], 32)?);
        three.push(multi_row_step(&mut engine, &vec![vec![]; 3], 32)?);
        twelve.push(multi_row_step(&mut engine, &vec![vec![]; 12], 16)?);
        three_lora.push(multi_row_step(
            &mut engine,
            &[vec![], vec![(experts[0], 1.0)], vec![(experts[1], 1.0)]],
            32,
        )?);
    }
    let (one, three, twelve, three_lora) = (
        median(one),
        median(three),
        median(twelve),
        median(three_lora),
    );

    let rate = |t: &[Timing], prefill: bool| {
        median(
            t.iter()
                .map(|t| {
                    if prefill {
                        args.prefill_tokens as f64 * 1e3 / t.prefill_ms
                    } else {
                        args.decode_tokens as f64 * 1e3 / t.decode_ms
                    }
                })
                .collect(),
        )
    };
    let our: Vec<(f64, f64)> = ours
        .iter()
        .map(|t| (rate(t, true), rate(t, false)))
        .collect();
    let mut table = format!(
        "| engine | threads | prefill tok/s ({} tokens) | decode tok/s ({} tokens) |\n|---|---:|---:|---:|\n",
        args.prefill_tokens, args.decode_tokens,
    );
    for (&t, (p, d)) in THREADS.iter().zip(&our) {
        table += &format!(
            "| persona ({}) | {t} | {p:.1} | {d:.1} |\n",
            engine.backend.name()
        );
    }
    let mut ratios = format!(
        "\nOurs, 2 threads / 1 thread: prefill **{:.2}x**, decode **{:.2}x**.\n",
        our[1].0 / our[0].0,
        our[1].1 / our[0].1
    );
    for ((&t, l), timings) in THREADS.iter().zip(&llama).zip(&theirs) {
        let (lp, ld) = (rate(timings, true), rate(timings, false));
        let i = THREADS.iter().position(|&x| x == t).expect("listed");
        table += &format!(
            "| llama.cpp (llama-cpp-python {}) | {t} | {lp:.1} | {ld:.1} |\n",
            l.version
        );
        ratios += &format!(
            "Ratio persona / llama.cpp at {t} thread{}: prefill **{:.2}x**, decode **{:.2}x**.\n",
            if t == 1 { "" } else { "s" },
            our[i].0 / lp,
            our[i].1 / ld
        );
    }
    if llama.is_empty() {
        ratios += "llama.cpp not measured in this run (`--no-llama-cpp`, or no `.venv`: `scripts/setup.sh refs`).\n";
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = format!(
        "## CPU decode and prefill, side by side\n\nOurs (`--threads`) and llama.cpp (`n_threads`) at 1 and 2 threads, same GGUF ({}), \
         median of {} interleaved repeats, kernels `{}`, {cpu}, {cores} cores (shared). Produced by `persona bench --only cpu`.\n\n{table}{ratios}\n\
         Batched decode step on one thread (one new token per row, 32-token context, medians of 7 interleaved runs): 1 row {one:.2} ms, \
         3 rows {three:.2} ms (**{:.2}x** the 1-row cost for 3x the rows), 12 rows {twelve:.2} ms (**{:.2}x**); 3 rows of which 2 carry their own rank-8 LoRA adapter \
         on all seven projections {three_lora:.2} ms (**{:.2}x** the 3 plain rows).\n",
        model.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        args.repeats,
        kernels::active().name,
        three / one,
        twelve / one,
        three_lora / three
    );
    println!("{report}");
    write_section(
        &args.out,
        "## CPU decode and prefill, side by side",
        &report,
    )?;
    for mut l in llama {
        let _ = l.child.kill();
    }
    Ok(())
}
