//! Model loading for the CLI, with a progress bar while the file is read.

use std::io::Read;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::cpu::{CpuBackend, WeightMode};
use crate::engine::Engine;
use crate::model::GgufFile;
use crate::Result;

/// Reads the file with a progress bar on stderr (hidden when not a terminal).
pub(super) fn read_model(path: &Path) -> Result<GgufFile> {
    let mut f = std::fs::File::open(path).map_err(|e| GgufFile::read_error(path, e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(size).with_style(
        ProgressStyle::with_template("loading model {bar:30} {binary_bytes}/{binary_total_bytes}")
            .expect("valid template"),
    );
    let mut bytes = Vec::with_capacity(size as usize);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| GgufFile::read_error(path, e))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    GgufFile::from_bytes(bytes)
}

pub(super) fn load_engine(path: &Path, mode: WeightMode) -> Result<Engine<CpuBackend>> {
    let file = read_model(path)?;
    Engine::load_cpu(&file, mode)
}
