//! Trace files: a steered answer saved as the JSON `persona run --trace`
//! writes (`version`, `config`, `text`, `events`; the page adds
//! `chunk_text`, the spelled-out proposals of SCR's chunks). Parsing and
//! checking only (the page's import runs this, natively compiled too for the
//! tests and fuzz targets); the replay into the page is `crate::app::trace_file`.

use serde::{Deserialize, Serialize};

use crate::steer::{Event as SteerEvent, RunConfig};

/// The trace format this page reads and writes.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceFile {
    pub version: u32,
    pub config: RunConfig,
    pub text: String,
    pub events: Vec<SteerEvent>,
    /// Per chunk, the text of each proposed token (absent in CLI traces).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunk_text: Vec<Vec<String>>,
}

impl TraceFile {
    pub fn parse(json: &str) -> Result<Self, String> {
        let file: TraceFile =
            serde_json::from_str(json).map_err(|e| format!("it is not a persona trace ({e})"))?;
        if file.version != VERSION {
            return Err(format!(
                "it is trace version {}; this page reads version {VERSION}",
                file.version
            ));
        }
        Ok(file)
    }

    /// A file name like `persona-scr-seed42.json`.
    pub fn file_name(&self) -> String {
        format!(
            "persona-{}-seed{}.json",
            self.config.method.name(),
            self.config.seed
        )
    }
}
