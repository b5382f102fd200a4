//! llama.cpp's side of `persona bench`: `scripts/bench_llamacpp.py` (through
//! llama-cpp-python, same GGUF) driven over a pipe, one process per thread
//! count, each asked for one timed prefill + decode at a time.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Error, Result};

/// One prefill of `n_prefill` tokens and `n_decode` decode steps, in ms.
pub(super) struct Timing {
    pub prefill_ms: f64,
    pub decode_ms: f64,
}

pub(super) struct LlamaCpp {
    pub child: std::process::Child,
    stdout: BufReader<std::process::ChildStdout>,
    pub version: String,
}

impl LlamaCpp {
    pub(super) fn start(python: &Path, model: &Path, threads: usize) -> Result<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_llamacpp.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(model)
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::InvalidInput(format!(
                    "cannot start {} ({e}); run `scripts/setup.sh refs` or pass --no-llama-cpp",
                    python.display()
                ))
            })?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let ready = read_json(&mut stdout)?;
        let version = ready["version"].as_str().unwrap_or("?").to_string();
        Ok(Self {
            child,
            stdout,
            version,
        })
    }

    pub(super) fn run(&mut self, n_prefill: usize, n_decode: usize) -> Result<Timing> {
        let stdin = self.child.stdin.as_mut().expect("piped");
        writeln!(stdin, "{n_prefill} {n_decode}")
            .and_then(|_| stdin.flush())
            .map_err(|e| Error::Backend(format!("llama.cpp bench: {e}")))?;
        let v = read_json(&mut self.stdout)?;
        Ok(Timing {
            prefill_ms: v["prefill_ms"].as_f64().unwrap_or(f64::NAN),
            decode_ms: v["decode_ms"].as_f64().unwrap_or(f64::NAN),
        })
    }
}

fn read_json(r: &mut impl BufRead) -> Result<serde_json::Value> {
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(|e| Error::Backend(format!("llama.cpp bench: {e}")))?;
    serde_json::from_str(&line)
        .map_err(|_| Error::Backend(format!("llama.cpp bench printed {line:?}")))
}
