//! persona: decoding-time persona steering for SmolLM2 (PDD and MPG/SCR),
//! one engine shared by the command line, the Web Worker and the playground.
//!
//! Map: `dist` is the distribution maths every layer shares, `model` reads formats (GGUF, tokenizer, chat template), `backend`
//! runs the batched multi-row llama forward, `engine` holds views (rows) and
//! the decoding loop. See docs/ARCHITECTURE.md.

// The page's threaded worker (built on nightly, web/threaded_worker.sh)
// sleeps its pool's helpers with wasm's atomic wait/notify.
#![cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    feature(stdarch_wasm_atomic_wait)
)]

#[macro_use]
mod avx2_dispatch;
pub mod backend;
pub mod dist;
pub mod engine;
mod error;
pub mod model;
pub(crate) mod page_data;
pub mod steer;
pub mod train;

#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod worker;

// What a user of the crate needs, by name.
#[cfg(target_arch = "wasm32")]
pub use app::App;
pub use backend::cpu::{CpuBackend, WeightMode};
pub use backend::webgpu::WebGpuBackend;
pub use backend::Backend;
pub use engine::{Engine, Sampling};
pub use error::{Error, Result};
pub use model::GgufFile;
pub use page_data::trace_file::TraceFile;
pub use steer::{run, Event, Method, RunConfig, RunStats};
#[cfg(target_arch = "wasm32")]
pub use worker::start as start_worker;
