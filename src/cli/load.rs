//! Model loading for the CLI, with a progress bar while the file is read.

use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backend::cpu::{CpuBackend, WeightMode};
use crate::engine::Engine;
use crate::model::GgufFile;
use crate::Result;

/// `--kernels`: the kernel family of every command's quantized products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Kernels {
    Int8,
    Exact,
}

static KERNELS: OnceLock<Kernels> = OnceLock::new();

pub(super) fn use_kernels(k: Kernels) {
    let _ = KERNELS.set(k);
}

/// The quantized weight mode `--kernels` asks for (int8 when not set).
pub(super) fn quantized() -> WeightMode {
    match KERNELS.get() {
        Some(Kernels::Exact) => WeightMode::Quantized,
        _ => WeightMode::Int8,
    }
}

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
