//! The thin wasm side of the event reducer: what the page knows about a
//! lane is read from the signals ([`Seen`]), the pure reducer
//! (`crate::page_data::lane_events`) says what the event changes, and each
//! [`Effect`] is applied here to the signals, the worker connection and the
//! adapter queue; when the log was at its end, it follows new text.

use leptos::prelude::*;

use super::Client;
use crate::app::scroll::{follow_to_end, following};
use crate::app::state::{ProbeState, Role};
use crate::page_data::banner::Banner;
use crate::page_data::lane_events::{abort, reduce, Answer, Effect, JobKind, Seen};
use crate::steer::Event as SteerEvent;
use crate::worker::protocol::{Command, Event};

impl Client {
    pub(super) fn on_event(self, event: Event) {
        self.apply(reduce(&self.seen(), event));
    }

    /// Ends this lane's job after an error: an answer with no text is taken
    /// back (its question returns to the message box), a partial one stays.
    pub(super) fn abort_answer(self) {
        self.apply(abort(&self.seen()));
    }

    /// What the reducer needs to know about this lane, now.
    fn seen(self) -> Seen {
        let state = self.state;
        let answer = match state.streaming_turn() {
            None => Answer::None,
            Some(turn) if turn.trace(self.lane).is_some() => Answer::Traced,
            Some(_) => Answer::Plain,
        };
        Seen {
            lane: self.lane,
            load: self.load().get_untracked(),
            gen: self.gen().get_untracked(),
            answer,
            compare: state.compare.get_untracked(),
            backend_choice: state.backend_choice.get_value(),
            stale_banner: state
                .banner
                .with_untracked(|b| b.as_ref().is_some_and(Banner::stale_once_ready)),
            job: if state.probe.with_untracked(|p| p.running) {
                JobKind::Probe
            } else if state.contrast.with_untracked(|c| c.running) {
                JobKind::Contrast
            } else {
                JobKind::Adapter
            },
            now_ms: js_sys::Date::now(),
        }
    }

    fn apply(self, effects: Vec<Effect>) {
        let follow = effects.iter().any(Effect::follows) && following();
        for effect in effects {
            self.apply_one(effect);
        }
        if follow {
            follow_to_end();
        }
    }

    fn apply_one(self, effect: Effect) {
        let state = self.state;
        let lane = self.lane;
        match effect {
            Effect::MarkAlive => self.alive.set_value(true),
            Effect::SendLoad => {
                let plan = self.thread_plan();
                self.send(&Command::Load {
                    url: self.model_url.get_value(),
                    backend: state.backend_choice.get_value(),
                    cache_mb: state.cache_mb.get_value(),
                    threads: plan.threads,
                    threads_note: plan.note,
                    kernels: state.kernels.get_value(),
                })
            }
            Effect::Load(load) => self.load().set(load),
            Effect::Gen(gen) => self.gen().set(gen),
            Effect::ClearBanner => state.banner.set(None),
            Effect::ShowError(kind, message) => state.show_error(kind, &message),
            Effect::Crashed(kind, message) => {
                // The worker is dying; its `error` event will be ignored.
                self.epoch.update_value(|e| *e += 1);
                self.crashed(kind, &message);
            }
            Effect::ReplayAdapters => self.replay_adapters(),
            Effect::BecameIdle => self.became_idle(),
            Effect::AppendText {
                text,
                tokens_per_second,
            } => {
                if let Some(turn) = state.streaming_turn() {
                    if !text.is_empty() {
                        turn.text.update(|t| t.push_str(&text));
                    }
                    if tokens_per_second.is_some() {
                        turn.live_tps.set(tokens_per_second);
                    }
                }
            }
            Effect::FinishAnswer { text, stats } => {
                if let Some(turn) = state.streaming_turn() {
                    turn.text.set(text);
                    turn.stats.set(Some(stats));
                    turn.streaming.set(false);
                }
            }
            Effect::Trace {
                event,
                proposed_text,
                decode_ms,
                backend,
            } => {
                let Some(trace) = state.streaming_turn().and_then(|t| t.trace(lane).cloned())
                else {
                    return;
                };
                if decode_ms.is_some() {
                    trace.decode_ms.set(decode_ms);
                }
                if matches!(event, SteerEvent::Done { .. }) {
                    trace.backend.set(backend);
                }
                trace.apply(event, proposed_text);
            }
            Effect::Settle => {
                if let Some(turn) = state.streaming_turn() {
                    turn.settle();
                }
            }
            Effect::RestartTrace => {
                if let Some(trace) = state.streaming_turn().and_then(|t| t.trace(lane).cloned()) {
                    trace.restart();
                }
            }
            Effect::ClearAnswer => {
                if let Some(turn) = state.streaming_turn() {
                    turn.text.set(String::new());
                    turn.live_tps.set(None);
                }
            }
            Effect::TakeBackAnswer => self.take_back_answer(),
            Effect::ProbeProgress { done, total } => state.probe.update(|p| {
                p.done = done;
                p.total = total;
            }),
            Effect::ProbeDone { axes, cancelled } => state.probe.update(|p| {
                *p = ProbeState {
                    running: false,
                    axes,
                    cancelled,
                    label: p.label.clone(),
                    ..ProbeState::default()
                }
            }),
            Effect::ProbeStopped => state.probe.update(|p| p.running = false),
            Effect::ContrastAnswer { column, text, done } => state.contrast.update(|c| {
                if let Some(col) = c.columns.get_mut(column) {
                    col.text = text;
                    col.answered = done;
                }
            }),
            Effect::ContrastProbe {
                column,
                score,
                note,
            } => state.contrast.update(|c| {
                if let Some(col) = c.columns.get_mut(column) {
                    col.score = score;
                    col.note = note;
                    col.probed = true;
                }
            }),
            Effect::ContrastDone { cancelled } => state.contrast.update(|c| {
                c.running = false;
                c.cancelled = cancelled;
            }),
            Effect::ContrastStopped => state.contrast.update(|c| c.running = false),
            Effect::AdapterAdded(adapter) => self.adapter_added(adapter),
            Effect::AdapterAnswered => self.dequeue(),
            Effect::AdapterJobCleared => state.adapter_job.set(None),
        }
    }

    /// This lane stops writing the answer; when no lane wrote anything, the
    /// answer goes and its question returns to the message box.
    fn take_back_answer(self) {
        let state = self.state;
        let Some(turn) = state.streaming_turn() else {
            return;
        };
        match turn.trace(self.lane) {
            Some(trace) => trace.streaming.set(false),
            None => turn.streaming.set(false),
        }
        turn.settle();
        let empty = turn.content().is_empty()
            && turn
                .compare
                .as_ref()
                .is_none_or(|t| t.tokens.with_untracked(Vec::is_empty));
        if !turn.streaming.get_untracked() && empty {
            state.turns.update(|turns| {
                turns.pop();
                if let Some(user) = turns.pop_if(|t| t.role == Role::User) {
                    if state.draft.get_untracked().trim().is_empty() {
                        state.draft.set(user.text.get_untracked());
                    }
                }
            });
        }
    }
}
