//! What the page and its worker read from outside, as pure parsing, and
//! the page's pure logic: the messages between them and their error kinds
//! (`protocol`), trace files (`trace_file`), the values in the address bar
//! (`url_params`), a lane's status as plain data (`lane`), what each worker
//! event does to the page (`lane_events`, the reducer the page applies) and
//! the error banner's words (`banner`), and which WebGPU adapters the
//! automatic backend choice passes over (`adapter_choice`), and how many
//! threads the worker runs with which build (`thread_plan`). No `web_sys` or signals here:
//! compiled natively too, so the native tests and fuzz targets run exactly
//! the code the page runs.

// Natively only the tests and fuzz targets use the page's parts.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub(crate) mod adapter_choice;
pub(crate) mod banner;
pub(crate) mod kernel_choice;
pub(crate) mod lane;
pub(crate) mod lane_events;
pub(crate) mod protocol;
pub(crate) mod thread_plan;
pub(crate) mod trace_file;
pub(crate) mod url_params;
