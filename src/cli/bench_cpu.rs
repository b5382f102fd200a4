//! `persona bench --only cpu`: prefill and decode of both CPU kernel
//! families (8-bit integer dots, exact f32) at 1 and 2 threads, with
//! llama.cpp's when it is installed, the repeats interleaved so all see the
//! same machine load; and the batched decode step's cost for 1, 3 and 12
//! rows (issue 13).

use std::path::Path;

use indicatif::ProgressBar;

use super::bench_llama_cpp::{LlamaCpp, Timing};
use super::bench_methods::median;
use super::bench_prompt::prompt_ids;
use crate::backend::cpu::{kernels, CpuBackend, WeightMode};
use crate::backend::{AdapterId, Backend, Readout, RowStep};
use crate::engine::clock::now_ms;
use crate::engine::sampling::argmax;
use crate::engine::Engine;
use crate::model::lora::{LoraAdapter, LoraDelta, Module};
use crate::Result;

const THREADS: [usize; 2] = [1, 2];

/// What to measure (`BenchArgs`' part for this section).
pub(super) struct CpuBench<'a> {
    pub model: &'a Path,
    pub prefill_tokens: usize,
    pub decode_tokens: usize,
    pub repeats: usize,
}

/// One kernel family's engine and its figures.
struct Family {
    engine: Engine<CpuBackend>,
    /// Per thread count (`THREADS`), the repeats' timings.
    timings: Vec<Vec<Timing>>,
}

/// Runs the section; the Markdown report.
pub(super) fn run_cpu(
    bench: &CpuBench<'_>,
    file: &crate::model::GgufFile,
    mut llama: Vec<LlamaCpp>,
) -> Result<String> {
    let mut families = Vec::new();
    for mode in [WeightMode::Int8, WeightMode::Quantized] {
        families.push(Family {
            engine: Engine::load_cpu(file, mode)?,
            timings: THREADS.iter().map(|_| Vec::new()).collect(),
        });
    }
    for f in families.iter_mut() {
        for &t in &THREADS {
            f.engine.backend.set_threads(t)?;
            run_engine(&mut f.engine, 8, 4)?;
        }
    }
    for l in llama.iter_mut() {
        l.run(8, 4)?;
    }
    let mut theirs: Vec<Vec<Timing>> = llama.iter().map(|_| Vec::new()).collect();
    let bar = ProgressBar::new(bench.repeats as u64);
    for _ in 0..bench.repeats {
        for f in families.iter_mut() {
            for (i, &t) in THREADS.iter().enumerate() {
                f.engine.backend.set_threads(t)?;
                let timing = run_engine(&mut f.engine, bench.prefill_tokens, bench.decode_tokens)?;
                f.timings[i].push(timing);
            }
        }
        for (l, out) in llama.iter_mut().zip(theirs.iter_mut()) {
            out.push(l.run(bench.prefill_tokens, bench.decode_tokens)?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let steps: Vec<Steps> = families
        .iter_mut()
        .map(|f| batched_steps(&mut f.engine))
        .collect::<Result<_>>()?;
    for l in llama.iter_mut() {
        let _ = l.child.kill();
    }

    let rate = |t: &[Timing], prefill: bool| {
        median(
            t.iter()
                .map(|t| match prefill {
                    true => bench.prefill_tokens as f64 * 1e3 / t.prefill_ms,
                    false => bench.decode_tokens as f64 * 1e3 / t.decode_ms,
                })
                .collect(),
        )
    };
    // [family][threads] = (prefill, decode)
    let ours: Vec<Vec<(f64, f64)>> = families
        .iter()
        .map(|f| {
            f.timings
                .iter()
                .map(|t| (rate(t, true), rate(t, false)))
                .collect()
        })
        .collect();
    let mut table = format!(
        "| engine | threads | prefill tok/s ({} tokens) | decode tok/s ({} tokens) |\n|---|---:|---:|---:|\n",
        bench.prefill_tokens, bench.decode_tokens,
    );
    for (f, rates) in families.iter().zip(&ours) {
        for (&t, (p, d)) in THREADS.iter().zip(rates) {
            table += &format!(
                "| persona ({}) | {t} | {p:.1} | {d:.1} |\n",
                f.engine.backend.name()
            );
        }
    }
    let llama_rates: Vec<(f64, f64)> = theirs
        .iter()
        .map(|t| (rate(t, true), rate(t, false)))
        .collect();
    for ((&t, l), (p, d)) in THREADS.iter().zip(&llama).zip(&llama_rates) {
        table += &format!(
            "| llama.cpp (llama-cpp-python {}) | {t} | {p:.1} | {d:.1} |\n",
            l.version
        );
    }
    let (int8, exact) = (&ours[0], &ours[1]);
    let mut ratios = String::from("\n");
    for (i, &t) in THREADS.iter().enumerate() {
        let s = if t == 1 { "" } else { "s" };
        ratios += &format!(
            "- int8 / exact at {t} thread{s}: prefill **{:.2}x**, decode **{:.2}x**\n",
            int8[i].0 / exact[i].0,
            int8[i].1 / exact[i].1
        );
    }
    for (name, r) in [("int8", int8), ("exact", exact)] {
        ratios += &format!(
            "- {name}, 2 threads / 1 thread: prefill **{:.2}x**, decode **{:.2}x**\n",
            r[1].0 / r[0].0,
            r[1].1 / r[0].1
        );
    }
    for (i, (lp, ld)) in llama_rates.iter().enumerate() {
        let t = THREADS[i];
        ratios += &format!(
            "- int8 / llama.cpp at {t} thread{}: prefill **{:.2}x**, decode **{:.2}x**\n",
            if t == 1 { "" } else { "s" },
            int8[i].0 / lp,
            int8[i].1 / ld
        );
    }
    if llama.is_empty() {
        ratios += "- llama.cpp not measured in this run (`--no-llama-cpp`, or no `.venv`: `scripts/setup.sh refs`).\n";
    }
    let mut batched = String::new();
    for (f, s) in families.iter().zip(&steps) {
        batched += &format!(
            "- {}: 1 row {:.2} ms, 3 rows {:.2} ms (**{:.2}x** the 1-row cost for 3x the rows), 12 rows {:.2} ms (**{:.2}x**); \
             3 rows of which 2 carry their own rank-8 LoRA adapter on all seven projections {:.2} ms (**{:.2}x** the 3 plain rows)\n",
            f.engine.backend.name(),
            s.one,
            s.three,
            s.three / s.one,
            s.twelve,
            s.twelve / s.one,
            s.three_lora,
            s.three_lora / s.three
        );
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
    Ok(format!(
        "## CPU decode and prefill, side by side\n\nOurs (`--threads`; both kernel families, `--kernels int8` and `--kernels exact`) and llama.cpp \
         (`n_threads`) at 1 and 2 threads, same GGUF ({}), median of {} interleaved repeats, kernels `{}`, {cpu}, {cores} cores (shared). \
         Produced by `persona bench --only cpu`.\n\n{table}{ratios}\n\
         Batched decode step on one thread (one new token per row, 32-token context, medians of 7 interleaved runs):\n\n{batched}",
        bench.model.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        bench.repeats,
        kernels::active().name,
    ))
}

/// Medians of the batched decode step's cost, in ms.
struct Steps {
    one: f64,
    three: f64,
    twelve: f64,
    three_lora: f64,
}

/// Batched steps on one thread: 1, 3 and 12 rows; 3 rows of which two
/// carry a rank-8 adapter on all seven projections (the MPG paper's r).
fn batched_steps(engine: &mut Engine<CpuBackend>) -> Result<Steps> {
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
        one.push(multi_row_step(engine, &[vec![]], 32)?);
        three.push(multi_row_step(engine, &vec![vec![]; 3], 32)?);
        twelve.push(multi_row_step(engine, &vec![vec![]; 12], 16)?);
        three_lora.push(multi_row_step(
            engine,
            &[vec![], vec![(experts[0], 1.0)], vec![(experts[1], 1.0)]],
            32,
        )?);
    }
    Ok(Steps {
        one: median(one),
        three: median(three),
        twelve: median(twelve),
        three_lora: median(three_lora),
    })
}

fn run_engine(
    engine: &mut Engine<CpuBackend>,
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

/// Time of one decode step with `mixes.len()` rows (row i with LoRA mix i).
fn multi_row_step(
    engine: &mut Engine<CpuBackend>,
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
