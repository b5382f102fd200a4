//! Where the project's model lives: the default GGUF path the CLI and the
//! tests load (a path on the machine that built the crate).

use std::path::{Path, PathBuf};

/// `assets/models/SmolLM2-135M-Instruct.Q4_1.gguf` under the project root
/// (or `$PERSONA_MODEL` when set).
pub fn default_model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PERSONA_MODEL") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}
