//! The pole contrast in the worker (issue "Steering you can see", point 4):
//! the same question answered once per configuration (α = −1, 0, +1 for
//! one expert), each answer streamed as `contrast_answer`, then scored on
//! the axis's first shipped probe items (`crate::steer::probe`) as
//! `contrast_probe`; one `contrast_done` at the end. Cancellable between
//! forwards; generic over the backend.

use super::backends::WorkerBackend;
use super::engine_error::WorkerError;
use super::lend::{cancelled, lend};
use super::probe_run::{subset, MAX_PER_AXIS};
use super::protocol::{ContrastRequest, ErrorKind, Event};
use super::yielding::{Hooks, YieldingBackend};
use crate::engine::Engine;
use crate::steer::probe::{builtin_items, probe, ProbeItem};
use crate::steer::{run, Event as SteerEvent, Probe, RunConfig};
use crate::Result;

/// The most columns a request may hold.
pub(crate) const MAX_COLUMNS: usize = 3;

/// Runs the contrast, posting its events.
pub(crate) async fn run_contrast<B: WorkerBackend>(
    engine: Engine<B>,
    req: ContrastRequest,
    hooks: Hooks,
    post: &dyn Fn(&Event),
) -> (Engine<B>, Result<(), WorkerError>) {
    if req.configs.is_empty() || req.configs.len() > MAX_COLUMNS {
        let e = WorkerError::new(
            ErrorKind::InvalidInput,
            format!("a pole contrast has 1 to {MAX_COLUMNS} columns"),
        );
        return (engine, Err(e));
    }
    if req.per_axis == 0 || req.per_axis > MAX_PER_AXIS {
        let e = WorkerError::new(
            ErrorKind::InvalidInput,
            format!("items per axis must be 1 to {MAX_PER_AXIS}"),
        );
        return (engine, Err(e));
    }
    let items: Vec<ProbeItem> = match &req.axis {
        Some(axis) => subset(builtin_items(), req.per_axis)
            .into_iter()
            .filter(|i| &i.axis == axis)
            .collect(),
        None => Vec::new(),
    };
    let cancel = hooks.cancel.clone();
    let (engine, result) = lend(engine, hooks, async |e| {
        for (column, cfg) in req.configs.iter().enumerate() {
            answer(e, column, cfg, post).await?;
            score(e, column, cfg, &items, req.axis.is_some(), post).await?;
        }
        Ok(())
    })
    .await;
    let outcome = match result {
        Ok(()) => {
            post(&Event::ContrastDone { cancelled: false });
            Ok(())
        }
        Err(e) if cancelled(&e, &cancel) => {
            post(&Event::ContrastDone { cancelled: true });
            Ok(())
        }
        Err(e) => Err(e.into()),
    };
    (engine, outcome)
}

/// Streams one column's answer.
async fn answer<B: WorkerBackend>(
    e: &mut Engine<YieldingBackend<B>>,
    column: usize,
    cfg: &RunConfig,
    post: &dyn Fn(&Event),
) -> Result<()> {
    let mut text = String::new();
    run(e, cfg, &mut |ev: SteerEvent| {
        if let SteerEvent::Token { text: piece, .. } = &ev {
            text.push_str(piece);
            post(&Event::ContrastAnswer {
                column,
                text: text.clone(),
                done: false,
            });
        }
    })
    .await?;
    post(&Event::ContrastAnswer {
        column,
        text,
        done: true,
    });
    Ok(())
}

/// Probes one column's configuration on the axis's items, or says why not.
async fn score<B: WorkerBackend>(
    e: &mut Engine<YieldingBackend<B>>,
    column: usize,
    cfg: &RunConfig,
    items: &[ProbeItem],
    has_axis: bool,
    post: &dyn Fn(&Event),
) -> Result<()> {
    let info = cfg.method.info();
    let note = match info.probe {
        _ if !has_axis => Some("this expert has no MBTI probe axis".to_string()),
        Probe::Unavailable(why) => Some(format!("the probe cannot score {}: {why}", info.label)),
        _ => None,
    };
    if note.is_some() || items.is_empty() {
        post(&Event::ContrastProbe {
            column,
            score: None,
            note,
        });
        return Ok(());
    }
    // Each item brings its own prompt: the question does not apply.
    let mut cfg = cfg.clone();
    cfg.history.clear();
    cfg.user = items[0].prompt.clone();
    let axes = probe(e, &cfg, items, &mut |_| {}).await?;
    post(&Event::ContrastProbe {
        column,
        score: axes.into_iter().next(),
        note: match info.probe {
            Probe::Proxy(why) => Some(why.to_string()),
            _ => None,
        },
    });
    Ok(())
}
