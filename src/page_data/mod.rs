//! What the page and its worker read from outside, as pure parsing, and
//! the page's pure logic: the messages between them and their error kinds
//! (`protocol`), trace files (`trace_file`), the values in the address bar
//! (`url_params`), a lane's status as plain data (`lane`), what each worker
//! event does to the page (`lane_events`, the reducer the page applies) and
//! the error banner's words (`banner`). No `web_sys` or signals here:
//! compiled natively too, so the native tests and fuzz targets run exactly
//! the code the page runs.

pub mod banner;
pub mod lane;
pub mod lane_events;
pub mod protocol;
pub mod trace_file;
pub mod url_params;
