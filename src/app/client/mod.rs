//! The page's end of the model workers, one [`Client`] per compare lane
//! ([`Clients`]; lane B's worker starts with compare mode), in three jobs:
//! `connection` starts a worker, posts commands, and replaces a worker that
//! died (a panic or an uncaught error) up to a few times a minute; events
//! from a replaced worker are ignored (each worker has an epoch).
//! `adapter_queue` sends adapters to a worker one at a time, and again to
//! a fresh one. `events` applies what each worker event does to the page
//! (computed by the pure reducer `crate::page_data::lane_events`) to the
//! signals, and keeps the conversation scrolled to its end.

mod adapter_queue;
mod connection;
mod events;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};

use super::state::{AppState, GenStatus, Lane, LoadStatus};
use crate::worker::protocol::AdapterRequest;

/// A running worker and its handlers (kept alive with it).
struct Connection {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

/// An adapter command and its picked files (undefined for shipped ones).
pub(crate) type AdapterJob = (AdapterRequest, JsValue);

/// What to do when a lane's worker becomes idle (start waiting re-runs).
pub(crate) type OnIdle = fn(AppState, Clients);

/// A `Copy` handle to one lane's worker connection.
#[derive(Clone, Copy)]
pub(crate) struct Client {
    pub lane: Lane,
    state: AppState,
    connection: StoredValue<Option<Connection>, LocalStorage>,
    epoch: StoredValue<u32>,
    /// Whether the current worker has said `alive`.
    alive: StoredValue<bool>,
    crashes: StoredValue<Vec<f64>>,
    model_url: StoredValue<String>,
    /// Adapter commands waiting for this worker to be idle.
    queue: StoredValue<Vec<AdapterJob>, LocalStorage>,
    /// Every adapter the session has (replayed into a fresh worker).
    loaded: StoredValue<Vec<AdapterJob>, LocalStorage>,
    /// The other lane's client (A sends checked adapters to B; either may
    /// start a waiting re-run).
    peer: StoredValue<Option<Client>>,
    on_idle: OnIdle,
}

/// Both lanes' clients.
#[derive(Clone, Copy)]
pub(crate) struct Clients {
    pub a: Client,
    pub b: Client,
}

impl Clients {
    pub(crate) fn get(self, lane: Lane) -> Client {
        match lane {
            Lane::A => self.a,
            Lane::B => self.b,
        }
    }
}

impl Client {
    fn load(self) -> RwSignal<LoadStatus> {
        self.state.load(self.lane)
    }

    fn gen(self) -> RwSignal<GenStatus> {
        self.state.gen(self.lane)
    }

    /// The worker is free again: next adapter, then any waiting re-run.
    fn became_idle(self) {
        self.pump();
        if let (false, Some(peer)) = (self.gen().get_untracked().is_busy(), self.peer.get_value()) {
            let clients = match self.lane {
                Lane::A => Clients { a: self, b: peer },
                Lane::B => Clients { a: peer, b: self },
            };
            (self.on_idle)(self.state, clients);
        }
    }
}
