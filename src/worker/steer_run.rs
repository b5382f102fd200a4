//! One steering run in the worker: the engine's parts are lent to an
//! `Engine<YieldingBackend>` (so a `cancel` lands between forwards), every
//! event goes to the page as a `trace`, and the parts come back afterwards,
//! whatever happened.

use std::cell::Cell;
use std::rc::Rc;

use super::engine_error::WorkerError;
use super::protocol::{Event, RunRequest};
use super::yielding::{YieldingBackend, CANCELLED};
use crate::backend::cpu::CpuBackend;
use crate::engine::Engine;
use crate::model::Tokenizer;
use crate::steer::{run, Event as SteerEvent, RunStats};
use crate::Error;

/// Runs `req`, posting `trace` events. `decoder` is a second tokenizer used
/// to spell out proposed chunk tokens while the engine's is lent to the run.
pub async fn run_request(
    engine: Engine<CpuBackend>,
    decoder: Option<&Tokenizer>,
    req: RunRequest,
    cancel: Rc<Cell<bool>>,
    post: &dyn Fn(&Event),
) -> (Engine<CpuBackend>, Result<(), WorkerError>) {
    {
        let Engine {
            tokenizer,
            template,
            backend,
        } = engine;
        let mut steering = Engine {
            tokenizer,
            template,
            backend: YieldingBackend {
                inner: backend,
                cancel: cancel.clone(),
            },
        };
        let cfg = req.config;
        let mut emitted = 0usize;
        let mut proposed = 0u64;
        let mut rejected = 0u64;
        let result = run(&mut steering, &cfg, &mut |ev: SteerEvent| {
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
            post(&Event::Trace {
                event: ev,
                proposed_text,
            });
        })
        .await;
        let Engine {
            tokenizer,
            template,
            backend,
        } = steering;
        let engine = Engine {
            tokenizer,
            template,
            backend: backend.inner,
        };
        let outcome = match result {
            Ok(_) => Ok(()),
            Err(Error::Backend(m)) if m == CANCELLED && cancel.get() => {
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
                            stop_reason: "cancelled".to_string(),
                            ..RunStats::default()
                        },
                    },
                    proposed_text: Vec::new(),
                });
                Ok(())
            }
            Err(e) => Err(e.into()),
        };
        (engine, outcome)
    }
}
