//! What a worker's events do to the page, as a pure reducer over plain
//! data: [`reduce`] reads what the page knows about one lane ([`Seen`]) and
//! an [`Event`], and returns the [`Effect`]s to apply, in order. The page
//! (`crate::app::client::events`) applies them to its signals and scrolls
//! the conversation; here they are data, so the native tests check every
//! transition (tokens appended, a finished answer's statistics, what each
//! error kind does, a cancel) without a browser.

use super::lane::{Adapter, AnswerStats, GenStatus, Lane, LoadStatus};
use super::protocol::{BackendChoice, ErrorKind, Event};
use crate::engine::GenerationSummary;
use crate::steer::probe::AxisScore;
use crate::steer::Event as SteerEvent;

/// The answer being written when the event arrives, as this lane sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// No assistant turn is streaming.
    None,
    /// One is, without a steered trace for this lane (a plain chat answer).
    Plain,
    /// One is, with this lane's steered trace.
    Traced,
}

/// What the page knows about one lane when an event arrives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub lane: Lane,
    pub load: LoadStatus,
    pub gen: GenStatus,
    pub answer: Answer,
    /// Compare mode is on (lane B's errors say which lane).
    pub compare: bool,
    /// The backend the address asked for.
    pub backend_choice: BackendChoice,
    /// Whether the banner shows an error a ready model makes obsolete.
    pub stale_banner: bool,
    /// What lane A's job is, when it runs one.
    pub job: JobKind,
    /// The clock, ms (when a download starts).
    pub now_ms: f64,
}

/// Which of lane A's panels started its job (`GenStatus::Job`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    Probe,
    Contrast,
    /// An adapter check (the only other job).
    Adapter,
}

/// One change to the page, applied in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// The worker said `alive`.
    MarkAlive,
    /// Send `load` (the model's address, the backend asked for).
    SendLoad,
    Load(LoadStatus),
    Gen(GenStatus),
    ClearBanner,
    ShowError(ErrorKind, String),
    /// The worker died (`panic`): ignore it from now on, count a crash, and
    /// start another (or give up).
    Crashed(ErrorKind, String),
    /// A fresh worker gets the session's adapters again, in order.
    ReplayAdapters,
    /// Next queued adapter, then any waiting re-run.
    BecameIdle,
    /// A plain answer's token: text (may be empty) and the live rate.
    AppendText {
        text: String,
        tokens_per_second: Option<f64>,
    },
    /// A plain answer is finished: its whole text and how it ended.
    FinishAnswer {
        text: String,
        stats: AnswerStats,
    },
    /// One steering event for this lane's trace; on the final `done`,
    /// `backend` is the backend that wrote it.
    Trace {
        event: SteerEvent,
        proposed_text: Vec<String>,
        decode_ms: Option<f64>,
        backend: Option<String>,
    },
    /// End the turn's streaming once no lane writes any more.
    Settle,
    /// The worker writes the answer again from its start: forget the trace
    /// drawn so far.
    RestartTrace,
    /// The same for a plain answer: clear its text and live rate.
    ClearAnswer,
    /// The answer stopped after an error: a lane with no text is taken back
    /// (its question returns to the message box), a partial one stays.
    TakeBackAnswer,
    ProbeProgress {
        done: usize,
        total: usize,
    },
    ProbeDone {
        axes: Vec<AxisScore>,
        cancelled: bool,
    },
    /// The probe stopped without a result.
    ProbeStopped,
    /// A pole contrast column's text so far.
    ContrastAnswer {
        column: usize,
        text: String,
        done: bool,
    },
    ContrastProbe {
        column: usize,
        score: Option<AxisScore>,
        note: Option<String>,
    },
    /// The contrast finished or was cancelled.
    ContrastDone {
        cancelled: bool,
    },
    /// The contrast stopped after an error.
    ContrastStopped,
    /// Lane A's worker checked a new adapter.
    AdapterAdded(Adapter),
    /// The adapter job in flight is answered: drop it from the queue.
    AdapterAnswered,
    /// No adapter is being checked any more (the panel's note).
    AdapterJobCleared,
}

impl Effect {
    /// Whether this change grows the conversation, so the log should
    /// follow it when it was scrolled to its end.
    pub(crate) fn follows(&self) -> bool {
        matches!(
            self,
            Effect::AppendText { .. } | Effect::FinishAnswer { .. } | Effect::Trace { .. }
        )
    }
}

/// The changes `event` makes to the page, in order.
pub(crate) fn reduce(seen: &Seen, event: Event) -> Vec<Effect> {
    use Effect as E;
    match event {
        Event::Alive => vec![E::MarkAlive, E::SendLoad],
        Event::Progress {
            loaded,
            total,
            from_cache,
        } => {
            let load = if total.is_some_and(|t| loaded >= t) {
                LoadStatus::Preparing { from_cache }
            } else {
                let started_ms = match &seen.load {
                    LoadStatus::Downloading {
                        started_ms,
                        from_cache: was,
                        ..
                    } if *was == from_cache => *started_ms,
                    _ => seen.now_ms,
                };
                LoadStatus::Downloading {
                    loaded,
                    total,
                    from_cache,
                    started_ms,
                }
            };
            vec![E::Load(load)]
        }
        Event::Ready {
            backend,
            label,
            not_gpu,
            threads,
            threads_note,
            load_ms,
            cache,
            bytes,
        } => {
            let forced_gpu = seen.backend_choice == BackendChoice::Webgpu;
            let unavailable = not_gpu.clone().filter(|_| forced_gpu);
            let mut out = vec![E::Load(LoadStatus::Ready {
                backend,
                label,
                not_gpu,
                threads,
                threads_note,
                load_ms,
                cache,
                bytes,
            })];
            if seen.lane == Lane::A {
                if seen.stale_banner {
                    out.push(E::ClearBanner);
                }
                // ?backend=webgpu that could not start: say so, never silently.
                if let Some(why) = unavailable {
                    out.push(E::ShowError(ErrorKind::WebgpuUnavailable, why));
                }
            }
            out.extend([E::ReplayAdapters, E::BecameIdle]);
            out
        }
        Event::BackendLost {
            backend,
            label,
            reason,
        } => backend_lost(seen, backend, label, &reason),
        Event::Started { prompt_tokens } => {
            if seen.gen == GenStatus::Cancelling {
                return Vec::new();
            }
            vec![E::Gen(GenStatus::Prefill {
                prompt_tokens: Some(prompt_tokens),
            })]
        }
        Event::Token {
            text,
            tokens_per_second,
            ..
        } => {
            let mut out = Vec::new();
            if seen.answer != Answer::None {
                out.push(E::AppendText {
                    text,
                    tokens_per_second,
                });
            }
            out.extend(streaming(seen));
            out
        }
        Event::Done { summary } => finish(seen, summary),
        Event::Trace {
            event,
            proposed_text,
            decode_ms,
        } => {
            if seen.answer != Answer::Traced {
                return Vec::new();
            }
            let done = matches!(event, SteerEvent::Done { .. });
            let mut out: Vec<Effect> = streaming(seen).into_iter().collect();
            out.push(E::Trace {
                event,
                proposed_text,
                decode_ms,
                backend: if done { seen.load.label() } else { None },
            });
            if done {
                out.extend([E::Settle, E::Gen(GenStatus::Idle), E::BecameIdle]);
            }
            out
        }
        Event::ProbeProgress { done, total } => vec![E::ProbeProgress { done, total }],
        Event::ProbeDone { axes, cancelled } => vec![
            E::ProbeDone { axes, cancelled },
            E::Gen(GenStatus::Idle),
            E::BecameIdle,
        ],
        Event::ContrastAnswer { column, text, done } => {
            vec![E::ContrastAnswer { column, text, done }]
        }
        Event::ContrastProbe {
            column,
            score,
            note,
        } => vec![E::ContrastProbe {
            column,
            score,
            note,
        }],
        Event::ContrastDone { cancelled } => vec![
            E::ContrastDone { cancelled },
            E::Gen(GenStatus::Idle),
            E::BecameIdle,
        ],
        Event::AdapterAdded {
            name,
            id,
            rank,
            tensors,
        } => {
            let mut out = Vec::new();
            if seen.lane == Lane::A {
                out.push(E::AdapterAdded(Adapter {
                    name,
                    id,
                    rank,
                    tensors,
                    shipped: None,
                }));
            }
            out.extend(adapter_answered());
            out
        }
        Event::Error { kind, message } => error(seen, kind, &message),
    }
}

/// The first token or trace event ends the prefill.
fn streaming(seen: &Seen) -> Option<Effect> {
    matches!(seen.gen, GenStatus::Prefill { .. }).then_some(Effect::Gen(GenStatus::Streaming))
}

fn adapter_answered() -> [Effect; 3] {
    [
        Effect::AdapterAnswered,
        Effect::Gen(GenStatus::Idle),
        Effect::BecameIdle,
    ]
}

/// A plain answer finished: the summary's text (with any bytes held back
/// at the end) and statistics.
fn finish(seen: &Seen, summary: GenerationSummary) -> Vec<Effect> {
    let mut out = Vec::new();
    if seen.answer != Answer::None {
        out.push(Effect::FinishAnswer {
            stats: AnswerStats {
                tokens: summary.generated_ids.len(),
                tokens_per_second: summary.tokens_per_second,
                prefill_tokens_per_second: summary.prefill_tokens_per_second,
                prompt_tokens: summary.prompt_ids.len(),
                cached_positions: summary.cached_positions,
                stop: summary.stop_reason,
                backend: seen.load.label().unwrap_or_default(),
            },
            text: summary.text,
        });
    }
    out.extend([Effect::Gen(GenStatus::Idle), Effect::BecameIdle]);
    out
}

/// Ends this lane's job after an error (or a crash, or a restart).
pub(crate) fn abort(seen: &Seen) -> Vec<Effect> {
    use Effect as E;
    if !seen.gen.is_busy() {
        return Vec::new();
    }
    let mut out = vec![E::Gen(GenStatus::Idle)];
    if seen.gen == GenStatus::Job {
        match (seen.lane, seen.job) {
            (Lane::A, JobKind::Probe) => out.push(E::ProbeStopped),
            (Lane::A, JobKind::Contrast) => out.push(E::ContrastStopped),
            _ => out.extend([E::AdapterAnswered, E::AdapterJobCleared]),
        }
    } else if seen.answer != Answer::None {
        out.push(E::TakeBackAnswer);
    }
    out
}

fn error(seen: &Seen, kind: ErrorKind, message: &str) -> Vec<Effect> {
    use Effect as E;
    if kind == ErrorKind::Panic {
        // The worker is dying; its `error` event will be ignored.
        return vec![E::Crashed(kind, message.to_string())];
    }
    let mut out = Vec::new();
    if !seen.load.is_ready() && kind.is_model_load() {
        out.push(E::Load(LoadStatus::Failed));
    }
    if kind == ErrorKind::Adapter {
        out.push(E::AdapterJobCleared);
        out.extend(adapter_answered());
    } else {
        out.extend(abort(seen));
        out.push(E::BecameIdle);
    }
    let message = match (seen.lane, seen.compare) {
        (Lane::B, true) => format!("(compare lane B) {message}"),
        _ => message.to_string(),
    };
    out.push(E::ShowError(kind, message));
    out
}

/// The worker lost its GPU and now runs on the CPU: the status line says
/// so, a banner says why, and the answer in progress (which the worker
/// writes again from its start) is cleared.
fn backend_lost(seen: &Seen, backend: String, label: String, reason: &str) -> Vec<Effect> {
    use Effect as E;
    let mut out = Vec::new();
    if let LoadStatus::Ready {
        threads,
        threads_note,
        load_ms,
        cache,
        bytes,
        ..
    } = &seen.load
    {
        out.push(E::Load(LoadStatus::Ready {
            backend,
            label,
            not_gpu: Some(format!("the GPU was lost: {reason}")),
            threads: *threads,
            threads_note: threads_note.clone(),
            load_ms: *load_ms,
            cache: cache.clone(),
            bytes: *bytes,
        }));
    }
    let message = match seen.lane {
        Lane::A => format!("the GPU was lost ({reason})"),
        Lane::B => format!("(compare lane B) the GPU was lost ({reason})"),
    };
    out.push(E::ShowError(ErrorKind::GpuLost, message));
    if !seen.gen.is_answering() {
        return out;
    }
    if seen.gen != GenStatus::Cancelling {
        out.push(E::Gen(GenStatus::Prefill {
            prompt_tokens: None,
        }));
    }
    match seen.answer {
        Answer::Traced => out.push(E::RestartTrace),
        Answer::Plain if seen.lane == Lane::A => out.push(E::ClearAnswer),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests;
