//! `persona bench --only webgpu`: the WebGPU backend's cost per token
//! (dispatches, submissions, bytes read back and uploaded, weight bytes the
//! kernels read) and its decode speed on whatever adapter wgpu finds. On
//! this project's machines that is Mesa's lavapipe, a software rasterizer
//! on the CPU: its tokens per second say nothing about a real GPU. On a
//! hardware adapter it also runs the methods table on the GPU (Base is the
//! reference in the same run) and the CPU backend's Base beside it, and
//! writes its own section, so the software and hardware figures both stay.

use std::path::Path;

use super::bench_methods::{read_prompts, run_methods, write_section, MethodSetup, MethodsArgs};
use super::bench_prompt::prompt_ids;
use super::load::read_model;
use crate::backend::cpu::CpuBackend;
use crate::backend::webgpu::{GpuCounters, WebGpuBackend};
use crate::backend::{Backend, Readout, RowStep};
use crate::engine::clock::now_ms;
use crate::engine::sampling::argmax;
use crate::engine::Engine;
use crate::steer;
use crate::Result;

const HEADING: &str = "## WebGPU backend: cost per token";
const HEADING_HARDWARE: &str = "## WebGPU backend on a hardware GPU";

struct Measured {
    per_token: GpuCounters,
    tok_s: f64,
}

/// `rows` rows prefilled with `prefill` tokens, then `decode` greedy steps
/// (one new token per row per step).
fn measure(
    b: &mut WebGpuBackend,
    rows: usize,
    prefill: usize,
    decode: usize,
) -> Result<(Measured, f64)> {
    let prompt = prompt_ids(prefill);
    let ids: Vec<_> = (0..rows).map(|_| b.new_row()).collect::<Result<_>>()?;
    let steps: Vec<RowStep> = ids
        .iter()
        .map(|&row| RowStep {
            row,
            tokens: &prompt,
            readout: Readout::Last,
        })
        .collect();
    let t0 = now_ms();
    let out = pollster::block_on(b.forward(&steps))?;
    let prefill_ms = now_ms() - t0;
    let mut next: Vec<[u32; 1]> = out.iter().map(|o| [argmax(o.last())]).collect();
    let before = b.gpu_counters();
    let t1 = now_ms();
    for _ in 0..decode {
        let steps: Vec<RowStep> = ids
            .iter()
            .zip(&next)
            .map(|(&row, t)| RowStep {
                row,
                tokens: t,
                readout: Readout::Last,
            })
            .collect();
        let out = pollster::block_on(b.forward(&steps))?;
        next = out.iter().map(|o| [argmax(o.last())]).collect();
    }
    let ms = now_ms() - t1;
    let d = b.gpu_counters().since(before);
    for row in ids {
        b.free_row(row);
    }
    let n = decode as u64;
    Ok((
        Measured {
            per_token: GpuCounters {
                dispatches: d.dispatches / n,
                submissions: d.submissions / n,
                bytes_read_back: d.bytes_read_back / n,
                bytes_uploaded: d.bytes_uploaded / n,
                weight_bytes_read: d.weight_bytes_read / n,
            },
            tok_s: decode as f64 * 1e3 / ms,
        },
        prefill as f64 * rows as f64 * 1e3 / prefill_ms,
    ))
}

pub(super) fn run(
    model: &Path,
    prefill: usize,
    decode: usize,
    methods: &MethodsArgs,
    out: &Path,
) -> Result<()> {
    let file = read_model(model)?;
    let mut engine = pollster::block_on(Engine::load_webgpu(&file))?;
    let b = &mut engine.backend;
    measure(b, 1, 8, 2)?; // warm-up
    let (one, prefill_rate) = measure(b, 1, prefill, decode)?;
    let (three, _) = measure(b, 3, prefill, decode)?;
    let info = b.adapter_info().clone();
    let software = if b.is_software() {
        "**a software rasterizer on the CPU: these speeds say nothing about a real GPU**"
    } else {
        "a hardware adapter"
    };
    let row = |name: &str, m: &Measured| {
        let c = &m.per_token;
        format!(
            "| {name} | {} | {} | {} | {} | {:.1} | {:.2} |\n",
            c.dispatches,
            c.submissions,
            c.bytes_read_back,
            c.bytes_uploaded,
            c.weight_bytes_read as f64 / 1e6,
            m.tok_s
        )
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let heading = if b.is_software() {
        HEADING
    } else {
        HEADING_HARDWARE
    };
    let mut section = format!(
        "{heading}\n\nAdapter: {} ({:?}, {:?}, driver {} {}): {software}; machine load average {load} at the end. Produced by \
         `persona bench --only webgpu`: {prefill}-token prompt ({prefill_rate:.1} tok/s prefill), then \
         {decode} greedy decode steps; figures per decode step. Weights stay Q4_1/Q8_0 on the GPU \
         ({:.1} MB); one step is one submission and reads back one vocabulary of f32 log-probs per row.\n\n\
         | rows per step | dispatches | submissions | bytes read back | bytes uploaded | weight MB read | steps/s |\n\
         |---|---:|---:|---:|---:|---:|---:|\n{}{}",
        info.name,
        info.backend,
        info.device_type,
        info.driver,
        info.driver_info,
        b.weight_bytes() as f64 / 1e6,
        row("1", &one),
        row("3", &three),
    );
    section += &method_costs(&mut engine, methods)?;
    if !engine.backend.is_software() {
        let gpu_table = run_methods(&mut engine, methods)?;
        let mut cpu = Engine::with_backend(
            &file,
            CpuBackend::new(&file, engine.config(), super::load::quantized())?,
        )?;
        let base_only = MethodsArgs {
            methods: vec!["base".into()],
            ..methods.clone()
        };
        let cpu_table = run_methods(&mut cpu, &base_only)?;
        section += &format!(
            "\n### Methods on this GPU\n\n{}\n\n### The CPU backend's Base on the same machine\n\n{}",
            table_only(&gpu_table),
            table_only(&cpu_table)
        );
    }
    println!("{section}");
    write_section(out, heading, &section)
}

/// Tokens per answer in the per-method cost table (short: lavapipe is slow).
const COST_TOKENS: usize = 24;

/// What one answer of each method costs on the GPU per generated token
/// (prefill, PDD's PIE and rejected proposals included): what they read
/// back, how many submissions they need, and how often a nucleus reached
/// past the candidates read back.
fn method_costs(engine: &mut Engine<WebGpuBackend>, args: &MethodsArgs) -> Result<String> {
    let setup = MethodSetup::new(args)?;
    let prompts = read_prompts(args)?;
    let user = prompts
        .first()
        .map_or("Tell me about the sea.", String::as_str);
    let mut table = String::from(
        "| method | tokens | submissions / token | dispatches / token | KB read back / token | weight MB read / token | dense re-reads |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for &method in &setup.methods {
        let mut cfg = setup.config(method, user, args);
        cfg.max_tokens = COST_TOKENS;
        let before = engine.backend.gpu_counters();
        let stats = pollster::block_on(steer::run(engine, &cfg, &mut |_| {}))?;
        let d = engine.backend.gpu_counters().since(before);
        let per = |x: u64| x as f64 / stats.tokens.max(1) as f64;
        table += &format!(
            "| {} | {} | {:.1} | {:.0} | {:.1} | {:.0} | {} |\n",
            method.name(),
            stats.tokens,
            per(d.submissions),
            per(d.dispatches),
            per(d.bytes_read_back) / 1e3,
            per(d.weight_bytes_read) / 1e6,
            stats.dense_rereads,
        );
    }
    Ok(format!(
        "\n### What each method costs per generated token\n\nOne answer per method (up to {COST_TOKENS} tokens, greedy, seed {}, the methods table's persona and experts, first prompt of its list), everything counted: prefill, PDD's PIE answer, SCR's and the RS methods' rejected proposals. Every decision is taken on the GPU (`Backend::forward_mixed`): greedy steps read back the best 5 tokens of the row or of the mix (PDD's reweighting, MOD's mix) with every row's log-prob at them; sampled steps (SCR's, Token-RS's and Seq-RS's proposals, sampled chat) read back the 64 best candidates with every row's log-prob at them and the tempered mass a nucleus draw needs; SCR's chunk call reads, after each chunk token, every view's candidates, MPG's token-level target (the alternatives) and every view's log-prob of the next chunk token; teacher-forced scoring (PDD's PIE, Seq-RS, the probe) reads one word per token (`Readout::Score`). Still read back whole (196,608 bytes per row): PDD's and Seq-RS's prompt prefill, one row per view once per answer (both restart from the prompt end, PDD after its PIE answer and Seq-RS after each rejected response, and need every view there: keeping the rows costs one transfer, reading them sparsely again would cost a forward per restart; the other methods read their first decision with the prefill), and a step whose top-p nucleus reaches past the 64 candidates (dense re-reads: the views' last token is evaluated again with whole rows, so a seed gives the same tokens).\n\n{table}",
        args.seed
    ))
}

/// The settings line and table of a methods section, without its heading.
fn table_only(section: &str) -> &str {
    section
        .split_once("\n\n")
        .map_or(section, |(_, rest)| rest)
        .trim_end()
}
