//! `persona bench --only reuse`: what the prefix cache and PDD's importance
//! memo save a user who moves a slider or goes on talking (issue
//! "Interactive speed"): time to the first token of a first run and of a
//! re-run against one decode step, positions prefilled per turn of a
//! six-turn conversation with the cache and without, and the probe panel's
//! time. Side by side in one run on one thread; engines without a cache
//! (budget 0) are the "before".

use indicatif::ProgressBar;

use super::bench_methods::{median, MethodSetup, MethodsArgs};
use crate::backend::cpu::CpuBackend;
use crate::backend::Backend;
use crate::engine::clock::now_ms;
use crate::engine::Engine;
use crate::model::{ChatMessage, Role};
use crate::steer::probe::{builtin_items, probe};
use crate::steer::{run, Event, Knob, Method, RunConfig, RunStats, Turn};
use crate::Result;

/// The first two exchanges of the three-turn conversation, then its third
/// question; the six-turn conversation's questions.
const HISTORY: [(&str, &str); 2] = [
    (
        "Hi! I'm planning a weekend by the sea.",
        "That sounds lovely. Where are you thinking of going?",
    ),
    (
        "Somewhere quiet on the coast of Cornwall.",
        "Cornwall has many quiet coves and small fishing villages.",
    ),
];
const THIRD: &str = "What should I pack for the trip?";
const SIX_TURNS: [&str; 6] = [
    "Hi! I'm planning a weekend by the sea.",
    "Somewhere quiet, with a good walk.",
    "What should I pack?",
    "And if it rains all weekend?",
    "Any food I should try there?",
    "Thanks. One last tip for the drive home?",
];

/// One re-run measurement (medians over the repeats).
#[derive(Default)]
struct Rerun {
    first_ttft: Vec<f64>,
    rerun_ttft: Vec<f64>,
    rerun_prefill_ms: Vec<f64>,
    step_ms: Vec<f64>,
    rerun_rejection: Vec<f64>,
    /// The method proposes and rejects tokens.
    proposes: bool,
    rerun_positions: usize,
    rerun_cached: usize,
    views: usize,
    first_pie: usize,
    rerun_pie: usize,
}

/// One answer: its statistics, the PIE tokens it generated, its text, and
/// the time of one decode step after its prefill (SCR: one chunk, its
/// proposal steps and scoring call; the others: one batched call).
fn answer(
    engine: &mut Engine<CpuBackend>,
    cfg: &RunConfig,
) -> Result<(RunStats, usize, String, f64)> {
    let (mut pie, mut text, mut chunks) = (0, String::new(), 0u64);
    let stats = pollster::block_on(run(engine, cfg, &mut |e| match e {
        Event::Importance { pie_tokens, .. } => pie = pie_tokens.len(),
        Event::Token { text: t, .. } => text.push_str(&t),
        Event::Chunk { .. } => chunks += 1,
        _ => {}
    }))?;
    let steps = if chunks > 0 {
        chunks
    } else {
        stats.forward_calls.max(1)
    };
    let step_ms = (stats.elapsed_ms - stats.prefill_ms) / steps as f64;
    // A reused importance generated no PIE token (the event repeats G).
    let pie = if stats.reused_importance { 0 } else { pie };
    Ok((stats, pie, text, step_ms))
}

/// The setting a slider moves: SCR's last α, or PDD's importance sliders.
fn moved(cfg: &RunConfig, importance: &[f64]) -> RunConfig {
    let mut c = cfg.clone();
    if c.method.info().knobs.contains(&Knob::ImportanceWeights) {
        // The sliders as PIE left them, the strongest one halved.
        let mut w = importance.to_vec();
        if let Some(i) = (0..w.len()).max_by(|&a, &b| w[a].abs().total_cmp(&w[b].abs())) {
            w[i] *= 0.5;
        }
        c.pdd.weights = Some(w);
    } else if let Some(e) = c.experts.last_mut() {
        e.alpha = -e.alpha;
    }
    c
}

fn rerun_once(engine: &mut Engine<CpuBackend>, cfg: &RunConfig, r: &mut Rerun) -> Result<()> {
    engine.clear_cache();
    let mut importance = Vec::new();
    let first = pollster::block_on(run(engine, cfg, &mut |e| {
        if let Event::Importance { weights, .. } = e {
            importance = weights;
        }
    }))?;
    r.first_pie = cfg.pdd.pie_tokens * usize::from(cfg.method.info().importance);
    let (again, pie, _, step_ms) = answer(engine, &moved(cfg, &importance))?;
    r.first_ttft.push(first.ttft_ms);
    r.rerun_ttft.push(again.ttft_ms);
    r.rerun_prefill_ms.push(again.prefill_ms);
    r.rerun_rejection.push(again.rejection_rate);
    r.proposes = again.proposed > 0;
    r.step_ms.push(step_ms);
    r.rerun_positions = again.prefill_positions;
    r.rerun_cached = again.cached_positions;
    r.views = cfg.view_count();
    r.rerun_pie = pie;
    Ok(())
}

fn three_turns(cfg: &RunConfig) -> RunConfig {
    let mut c = cfg.clone();
    c.history = HISTORY
        .iter()
        .flat_map(|(u, a)| [Turn::new(Role::User, u), Turn::new(Role::Assistant, a)])
        .collect();
    c.user = THIRD.into();
    c
}

/// Positions computed per turn of the six-turn conversation; with the
/// template's new tokens per view (the new turn, and the answer's end).
fn conversation(
    engine: &mut Engine<CpuBackend>,
    cfg: &RunConfig,
) -> Result<Vec<(usize, usize, f64)>> {
    engine.clear_cache();
    let mut c = cfg.clone();
    let mut turns = Vec::new();
    let mut before = 0;
    for user in SIX_TURNS {
        c.user = user.into();
        let (stats, _, text, _) = answer(engine, &c)?;
        let mut msgs: Vec<ChatMessage> = c.history.clone();
        msgs.push(ChatMessage::new(Role::User, user));
        let now = engine.chat_prompt_messages(&msgs)?.len();
        turns.push((stats.prefill_positions, now - before, stats.elapsed_ms));
        before = now + stats.tokens;
        c.history.push(Turn::new(Role::User, user));
        c.history.push(Turn::new(Role::Assistant, &text));
    }
    Ok(turns)
}

/// Runs the reuse figures; returns the markdown section.
pub(super) fn run_reuse(
    model: &std::path::Path,
    args: &MethodsArgs,
    repeats: usize,
) -> Result<String> {
    let mut warm = super::load::load_engine(model, super::load::quantized())?;
    let mut cold = super::load::load_engine(model, super::load::quantized())?;
    // One thread, as the section says (the default takes every core).
    warm.backend.set_threads(1)?;
    cold.backend.set_threads(1)?;
    cold.set_cache_mb(0.0)?;
    let setup = MethodSetup::new(args)?;
    let cfg = |name: &str| -> Result<RunConfig> {
        let mut c = setup.config(name.parse::<Method>()?, THIRD, args);
        c.max_tokens = c.max_tokens.min(32);
        Ok(c)
    };
    let (scr, pdd) = (three_turns(&cfg("scr")?), three_turns(&cfg("pdd")?));
    let bar = ProgressBar::new((2 * repeats + 4 + 2) as u64);
    let (mut r_scr, mut r_pdd) = (Rerun::default(), Rerun::default());
    for _ in 0..repeats {
        rerun_once(&mut warm, &scr, &mut r_scr)?;
        bar.inc(1);
        rerun_once(&mut warm, &pdd, &mut r_pdd)?;
        bar.inc(1);
    }
    let mut table = String::from(
        "| method | views | first run: ms to first token | re-run: ms to first token | re-run: prefill ms | decode step, ms | re-run's first token / step | re-run: rejected proposals | re-run positions computed (cached) | PIE tokens generated: first, re-run |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (label, what, r) in [
        ("SCR (2 experts, k = 4)", "last α negated", &r_scr),
        (
            "PDD (7 attributes, K = 2)",
            "strongest importance slider halved",
            &r_pdd,
        ),
    ] {
        let (first, again, prefill, step) = (
            median(r.first_ttft.clone()),
            median(r.rerun_ttft.clone()),
            median(r.rerun_prefill_ms.clone()),
            median(r.step_ms.clone()),
        );
        table += &format!(
            "| {label}; re-run: {what} | {} | {first:.0} | {again:.0} | {prefill:.0} | {step:.1} | **{:.2}x** | {} | {} ({}) | {}, {} |\n",
            r.views,
            again / step,
            if r.proposes {
                format!("{:.0}%", 100.0 * median(r.rerun_rejection.clone()))
            } else {
                "–".into()
            },
            r.rerun_positions,
            r.rerun_cached,
            r.first_pie,
            r.rerun_pie
        );
    }

    let mut turns = String::from(
        "| turn | new tokens per view | SCR positions, cache | SCR positions, no cache | PDD positions, cache | PDD positions, no cache | PDD s/answer, cache | PDD s/answer, no cache |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let conv = |e: &mut Engine<CpuBackend>, c: &RunConfig| {
        let mut c = c.clone();
        c.max_tokens = c.max_tokens.min(24);
        c.history.clear();
        conversation(e, &c)
    };
    let scr_on = conv(&mut warm, &scr)?;
    bar.inc(1);
    let scr_off = conv(&mut cold, &scr)?;
    bar.inc(1);
    let pdd_on = conv(&mut warm, &pdd)?;
    bar.inc(1);
    let pdd_off = conv(&mut cold, &pdd)?;
    bar.inc(1);
    for t in 0..SIX_TURNS.len() {
        turns += &format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n",
            t + 1,
            scr_on[t].1,
            scr_on[t].0,
            scr_off[t].0,
            pdd_on[t].0,
            pdd_off[t].0,
            pdd_on[t].2 / 1e3,
            pdd_off[t].2 / 1e3
        );
    }

    // The probe panel: 8 items per axis, SCR's target.
    let mut items = builtin_items();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    items.retain(|i| {
        let n = seen.entry(i.axis.clone()).or_default();
        *n += 1;
        *n <= 8
    });
    let probe_cfg = cfg("scr")?;
    let probe_time = |e: &mut Engine<CpuBackend>| -> Result<(f64, u64)> {
        e.clear_cache();
        let p0 = e.backend.counters().positions;
        let t0 = now_ms();
        pollster::block_on(probe(e, &probe_cfg, &items, &mut |_| {}))?;
        bar.inc(1);
        Ok((now_ms() - t0, e.backend.counters().positions - p0))
    };
    let (before_ms, before_pos) = probe_time(&mut cold)?;
    let (after_ms, after_pos) = probe_time(&mut warm)?;
    bar.finish_and_clear();

    Ok(format!(
        "## Re-runs and new turns: the prefix cache\n\n\
         `persona bench --only reuse`, one thread, backend {}, {repeats} repeats (medians), prompt experts {} and persona `{}`, \
         up to 32 new tokens. Each first run starts from an empty cache; its re-run moves one setting. \
         A decode step is the re-run's time after its prefill per step: for SCR one chunk (its k − 1 proposal steps and the call that scores the chunk on every view), for PDD one batched call; \
         the re-run's prefill is what the cache leaves to compute (PDD: the views it reads, evaluated on demand). \
         Three-turn conversation (two exchanges, then \"{THIRD}\"):\n\n{table}\n\
         Six-turn conversation (up to 24 new tokens per answer), positions computed per answer, all views; \
         \"new tokens per view\" is what the template adds to a view's conversation after the previous answer \
         (PDD's attributes not among its top K never read the answer, so they compute it with the next turn). \
         Without the cache (budget 0) every answer computes every view's whole conversation:\n\n{turns}\n\
         Probe panel (SCR's target, 8 items per axis, 32 items): without the cache {:.1} s ({before_pos} positions), \
         with it {:.1} s ({after_pos} positions): **{:.2}x** faster.\n",
        warm.backend.name(),
        args.alphas.join(", "),
        args.persona,
        before_ms / 1e3,
        after_ms / 1e3,
        before_ms / after_ms,
    ))
}
