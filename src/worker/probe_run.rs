//! The axis probe in the worker: the first `per_axis` shipped MBTI items of
//! each axis scored under one configuration (`crate::steer::probe`), with a
//! `probe_progress` event per item; cancellable between forwards. Generic
//! over the backend.

use super::backends::WorkerBackend;
use super::engine_error::WorkerError;
use super::lend::{cancelled, lend};
use super::protocol::{ErrorKind, Event, ProbeRequest};
use super::yielding::Hooks;
use crate::engine::Engine;
use crate::steer::probe::{builtin_items, probe, ProbeItem};

/// The most items per axis a request may ask for (the shipped set has 48).
pub(crate) const MAX_PER_AXIS: usize = 48;

/// The first `per_axis` items of every axis, axes in file order.
pub(crate) fn subset(items: Vec<ProbeItem>, per_axis: usize) -> Vec<ProbeItem> {
    let mut taken: Vec<(String, usize)> = Vec::new();
    items
        .into_iter()
        .filter(|item| {
            let k = match taken.iter().position(|(a, _)| *a == item.axis) {
                Some(k) => k,
                None => {
                    taken.push((item.axis.clone(), 0));
                    taken.len() - 1
                }
            };
            taken[k].1 += 1;
            taken[k].1 <= per_axis
        })
        .collect()
}

/// Runs the probe, posting progress and one `probe_done`.
pub(crate) async fn run_probe<B: WorkerBackend>(
    engine: Engine<B>,
    req: ProbeRequest,
    hooks: Hooks,
    post: &dyn Fn(&Event),
) -> (Engine<B>, Result<(), WorkerError>) {
    if req.per_axis == 0 || req.per_axis > MAX_PER_AXIS {
        let e = WorkerError::new(
            ErrorKind::InvalidInput,
            format!("items per axis must be 1 to {MAX_PER_AXIS}"),
        );
        return (engine, Err(e));
    }
    let items = subset(builtin_items(), req.per_axis);
    let total = items.len();
    // Each item brings its own prompt: the conversation does not apply.
    let mut cfg = req.config;
    cfg.history.clear();
    cfg.user = items.first().map(|i| i.prompt.clone()).unwrap_or_default();
    let cancel = hooks.cancel.clone();
    let (engine, result) = lend(engine, hooks, async |e| {
        probe(e, &cfg, &items, &mut |i| {
            post(&Event::ProbeProgress { done: i + 1, total })
        })
        .await
    })
    .await;
    let outcome = match result {
        Ok(axes) => {
            post(&Event::ProbeDone {
                axes,
                cancelled: false,
            });
            Ok(())
        }
        Err(e) if cancelled(&e, &cancel) => {
            post(&Event::ProbeDone {
                axes: Vec::new(),
                cancelled: true,
            });
            Ok(())
        }
        Err(e) => Err(e.into()),
    };
    (engine, outcome)
}
