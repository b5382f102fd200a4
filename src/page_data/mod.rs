//! What the page and its worker read from outside, as pure parsing: the
//! messages between them (`protocol`), trace files (`trace_file`) and the
//! values in the address bar (`url_params`). No `web_sys` here: compiled
//! natively too, so the native tests and fuzz targets run exactly the code
//! the page runs.

pub mod protocol;
pub mod trace_file;
pub mod url_params;
