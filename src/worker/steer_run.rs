//! One steering run in the worker, on either backend: the engine is lent to
//! a yielding engine (`lend`), every event goes to the page as a `trace` (the final `done`
//! with the time spent after the prompts' prefill, from the run's statistics), and a cancelled run
//! ends with a `done` whose stop reason is "cancelled".

use super::backends::WorkerBackend;
use super::engine_error::WorkerError;
use super::lend::{cancelled, lend};
use super::protocol::{Event, RunRequest};
use super::yielding::Hooks;
use crate::engine::Engine;
use crate::model::Tokenizer;
use crate::steer::{run, Event as SteerEvent, RunStats};

/// Runs `req`, posting `trace` events. `decoder` is a second tokenizer used
/// to spell out proposed chunk tokens while the engine's is lent to the run.
pub(crate) async fn run_request<B: WorkerBackend>(
    engine: Engine<B>,
    decoder: Option<&Tokenizer>,
    req: RunRequest,
    hooks: Hooks,
    post: &dyn Fn(&Event),
) -> (Engine<B>, Result<(), WorkerError>) {
    let cfg = req.config;
    let mut emitted = 0usize;
    let mut proposed = 0u64;
    let mut rejected = 0u64;
    let cancel = hooks.cancel.clone();
    let (engine, result) = lend(engine, hooks, async |steering| {
        run(steering, &cfg, &mut |ev: SteerEvent| {
            let proposed_text = match &ev {
                SteerEvent::Token { .. } => {
                    emitted += 1;
                    Vec::new()
                }
                SteerEvent::Chunk {
                    proposed: ids,
                    accepted,
                    ..
                } => {
                    proposed += ids.len() as u64;
                    rejected += (ids.len() - accepted) as u64;
                    match decoder {
                        Some(t) => ids
                            .iter()
                            .map(|id| t.decode(&[*id]).unwrap_or_default())
                            .collect(),
                        None => Vec::new(),
                    }
                }
                _ => Vec::new(),
            };
            // The run's own clock: the time after the prompts' prefill.
            let decode_ms = match &ev {
                SteerEvent::Done { stats } => Some(stats.elapsed_ms - stats.prefill_ms),
                _ => None,
            };
            post(&Event::Trace {
                event: ev,
                proposed_text,
                decode_ms,
            });
        })
        .await
    })
    .await;
    let outcome = match result {
        Ok(_) => Ok(()),
        Err(e) if cancelled(&e, &cancel) => {
            post(&Event::Trace {
                event: SteerEvent::Done {
                    stats: RunStats {
                        method: cfg.method.name().to_string(),
                        tokens: emitted,
                        proposed,
                        rejected,
                        rejection_rate: if proposed > 0 {
                            rejected as f64 / proposed as f64
                        } else {
                            0.0
                        },
                        stop_reason: crate::engine::StopReason::Cancelled,
                        ..RunStats::default()
                    },
                },
                proposed_text: Vec::new(),
                decode_ms: None,
            });
            Ok(())
        }
        Err(e) => Err(e.into()),
    };
    (engine, outcome)
}
