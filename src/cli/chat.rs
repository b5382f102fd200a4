//! `persona chat`: a steered conversation on one engine session, read from
//! standard input. A plain line is a user turn; `/alpha`, `/beta`, `/k` and
//! `/weights` re-run the last answer with the changed setting (same seed);
//! `/reset` forgets the conversation (`chat_line.rs`). Every answer starts
//! from what the engine kept (prefix cache, PDD's importance), so a re-run
//! or a new turn computes only what changed; `--json` prints one object per
//! answer with its timings and the positions computed and reused.

use std::io::{BufRead, Write};
use std::path::Path;

use clap::Args;

use super::chat_line::{apply, parse_line, ChatLine, HELP};
use super::load::{self, load_engine};
use super::run::MethodArgs;
use crate::backend::cpu::CpuBackend;
use crate::engine::prefix_cache::DEFAULT_CACHE_MB;
use crate::engine::Engine;
use crate::model::Role;
use crate::steer::{run as run_method, Event, RunConfig, RunStats, Turn};
use crate::Result;

#[derive(Args, Clone)]
pub(super) struct ChatArgs {
    #[command(flatten)]
    pub method: MethodArgs,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// One JSON object per answer on standard output (text, tokens,
    /// elapsed_ms, ttft_ms, prefill_positions, cached_positions, stats)
    /// instead of the streamed text.
    #[arg(long)]
    pub json: bool,
    /// The prefix cache's budget in MiB (0 turns it off).
    #[arg(long, default_value_t = DEFAULT_CACHE_MB, allow_hyphen_values = true)]
    pub cache_mb: f64,
}

/// The conversation and what re-running its last answer needs.
struct Session {
    cfg: RunConfig,
    /// The last answer's user message, while it can be re-run.
    last_user: Option<String>,
    turn: usize,
}

pub(super) fn run(model: &Path, args: ChatArgs) -> Result<()> {
    let mut engine = load_engine(model, load::quantized())?;
    engine.set_cache_mb(args.cache_mb)?;
    // Adapters load once: their ids (and the cached rows under them) hold
    // for the whole session. The user message is set per turn.
    let cfg = args.method.config(&mut engine, "…", args.max_tokens)?;
    let mut s = Session {
        cfg,
        last_user: None,
        turn: 0,
    };
    if !args.json {
        eprintln!(
            "{} chat; {}",
            s.cfg.method.info().label,
            HELP.lines().next().unwrap_or_default()
        );
    }
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| crate::Error::InvalidInput(format!("reading stdin: {e}")))?;
        match parse_line(&line) {
            Ok(None) => {}
            Ok(Some(ChatLine::Quit)) => break,
            Ok(Some(ChatLine::Help)) => eprintln!("{HELP}"),
            Ok(Some(ChatLine::Reset)) => {
                s.cfg.history.clear();
                s.last_user = None;
                eprintln!("[conversation reset]");
            }
            Ok(Some(ChatLine::User(text))) => {
                if let Err(e) = answer(&mut engine, &mut s, text, false, args.json) {
                    eprintln!("error: {e}");
                }
            }
            Ok(Some(setting)) => match apply(&mut s.cfg, &setting) {
                Err(e) => eprintln!("error: {e}"),
                Ok(()) => match s.last_user.clone() {
                    Some(user) => {
                        // The last exchange is answered again; a failed
                        // re-run keeps it.
                        let kept = s.cfg.history.clone();
                        s.cfg.history.truncate(kept.len() - 2);
                        if let Err(e) = answer(&mut engine, &mut s, user, true, args.json) {
                            s.cfg.history = kept;
                            eprintln!("error: {e}");
                        }
                    }
                    None => eprintln!("[set; it applies to the next message]"),
                },
            },
            Err(e) => eprintln!("error: {e}"),
        }
    }
    Ok(())
}

/// Answers `user` after the conversation so far, streaming (or printing
/// JSON), and adds the exchange to the conversation.
fn answer(
    engine: &mut Engine<CpuBackend>,
    s: &mut Session,
    user: String,
    rerun: bool,
    json: bool,
) -> Result<()> {
    s.cfg.user = user.clone();
    let mut text = String::new();
    let mut out = std::io::stdout().lock();
    let stats = pollster::block_on(run_method(engine, &s.cfg, &mut |ev: Event| {
        if let Event::Token { text: t, .. } = &ev {
            text.push_str(t);
            if !json {
                let _ = write!(out, "{t}");
                let _ = out.flush();
            }
        }
    }));
    let stats = stats?;
    s.turn += 1;
    if json {
        let _ = writeln!(out, "{}", answer_json(s.turn, rerun, &text, &stats));
    } else {
        let _ = writeln!(out);
        eprintln!("[{}]", summary(&stats));
    }
    s.cfg.history.push(Turn::new(Role::User, &user));
    s.cfg.history.push(Turn::new(Role::Assistant, &text));
    s.last_user = Some(user);
    Ok(())
}

fn answer_json(turn: usize, rerun: bool, text: &str, stats: &RunStats) -> String {
    serde_json::json!({
        "turn": turn,
        "rerun": rerun,
        "method": stats.method,
        "text": text,
        "tokens": stats.tokens,
        "elapsed_ms": stats.elapsed_ms,
        "ttft_ms": stats.ttft_ms,
        "prefill_positions": stats.prefill_positions,
        "cached_positions": stats.cached_positions,
        "stats": stats,
    })
    .to_string()
}

fn summary(s: &RunStats) -> String {
    let mut line = format!(
        "{} tokens in {:.0} ms, first token {:.0} ms, {:.1} tok/s overall; prefill: {} new positions, {} cached",
        s.tokens,
        s.elapsed_ms,
        s.ttft_ms,
        s.tokens_per_second,
        s.prefill_positions,
        s.cached_positions
    );
    if let Some(note) = &s.cache_note {
        line.push_str("; ");
        line.push_str(note);
    }
    line
}
