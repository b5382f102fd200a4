//! Adapters go to a worker one at a time, when it is ready and idle: each
//! waits in the lane's queue until the worker answers the one before. Lane
//! A's worker checks a new adapter first; once it passes, lane B's worker
//! gets it too (same order, so the ids agree), and a fresh worker gets
//! every adapter of the session again.

use leptos::prelude::*;

use super::{AdapterJob, Client};
use crate::page_data::lane::{Adapter, GenStatus};
use crate::worker::protocol::{AdapterSource, Command};

impl Client {
    /// Queues an adapter for this worker (sent when it is ready and idle).
    pub(crate) fn queue_adapter(self, job: AdapterJob) {
        self.queue.update_value(|q| q.push(job));
        self.pump();
    }

    /// Sends the next queued adapter when the worker is ready and idle.
    pub(super) fn pump(self) {
        if !self.load().get_untracked().is_ready() || self.gen().get_untracked().is_busy() {
            return;
        }
        let Some((req, files)) = self.queue.with_value(|q| q.first().cloned()) else {
            return;
        };
        self.gen().set(GenStatus::Job);
        self.post(&Command::AddAdapter(req), &files);
    }

    /// The adapter job in flight is answered (or abandoned): off the queue.
    pub(super) fn dequeue(self) {
        self.queue.update_value(|q| {
            if !q.is_empty() {
                q.remove(0);
            }
        });
    }

    /// A fresh worker gets the session's adapters again, in order.
    pub(super) fn replay_adapters(self) {
        let again = self.loaded.get_value();
        self.queue.set_value(again);
    }

    /// Lane A checked a new adapter: it becomes an expert (α 0 in both
    /// lanes) and goes to lane B's worker too.
    pub(super) fn adapter_added(self, mut adapter: Adapter) {
        let state = self.state;
        if state
            .adapters
            .with_untracked(|a| a.iter().any(|x| x.name == adapter.name))
        {
            return; // a replay into a fresh worker
        }
        let job = self.queue.with_value(|q| q.first().cloned());
        if let Some((req, files)) = job {
            if let AdapterSource::Url { base } = &req.source {
                adapter.shipped = Some(base.clone());
            }
            self.loaded
                .update_value(|l| l.push((req.clone(), files.clone())));
            if let Some(b) = self.peer.get_value() {
                if b.is_started() {
                    b.queue_adapter((req, files));
                }
            }
        }
        state.adapters.update(|a| a.push(adapter));
        for lane in state.lanes {
            lane.alphas.update(|a| a.push(0.0));
        }
        state.adapter_job.set(None);
    }
}
