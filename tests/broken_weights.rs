//! Broken weights are refused: a copy of the real model with 2,000 bytes of
//! its weight data set to 0xFF (NaN f16 scales in Q4_1 blocks) fails to load
//! with the tensor's name and block, through the library and the `persona`
//! binary (non-zero exit, no panic), instead of answering token 0.

use std::path::PathBuf;
use std::process::Command;

use candle_core::quantized::gguf_file::Content;

/// The damaged tensor, and where in it the 0xFF run starts.
const TENSOR: &str = "blk.10.ffn_up.weight";
const INTO: u64 = 1000;

/// The real model with 2,000 bytes of 0xFF from byte `INTO` of `TENSOR`'s data.
fn broken_copy() -> (PathBuf, Vec<u8>) {
    let path = persona::model::default_model_path();
    let mut bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh model)", path.display()));
    let content = Content::read(&mut std::io::Cursor::new(&bytes)).unwrap();
    let info = &content.tensor_infos[TENSOR];
    let start = (content.tensor_data_offset + info.offset + INTO) as usize;
    bytes[start..start + 2000].fill(0xff);
    let dir = std::env::temp_dir().join(format!("persona-broken-weights-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("broken.gguf");
    std::fs::write(&out, &bytes).unwrap();
    (out, bytes)
}

#[test]
fn nan_scales_are_refused_with_the_tensor_and_block() {
    let (path, bytes) = broken_copy();
    let err = match persona::model::GgufFile::from_bytes(bytes) {
        Ok(_) => panic!("a model with NaN scales loaded"),
        Err(e) => e.to_string(),
    };
    // Q4_1 blocks are 20 bytes: byte 1000 starts block 50, 2,000 bytes cover 100 blocks.
    assert!(err.contains(TENSOR), "{err}");
    assert!(
        err.contains("in 100 blocks, the first at block 50"),
        "{err}"
    );
    assert!(err.contains("download the model again"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .arg("--model")
        .arg(&path)
        .args(["generate", "--user", "Hello", "--max-tokens", "12"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit 0 with broken weights: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(TENSOR),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_intact_model_passes_the_check() {
    let path = persona::model::default_model_path();
    let bytes = std::fs::read(&path).unwrap();
    assert!(persona::model::GgufFile::from_bytes(bytes).is_ok());
}

/// What the check costs on the real model (docs/RELIABILITY.md quotes it):
/// every tensor of the 98 MB file, timed; it must stay well under the
/// time the file takes to parse and repack (seconds in the page).
#[test]
fn the_check_is_cheap() {
    let path = persona::model::default_model_path();
    let bytes = std::fs::read(&path).unwrap();
    let content = Content::read(&mut std::io::Cursor::new(&bytes)).unwrap();
    let file = persona::model::GgufFile::from_bytes(bytes).unwrap();
    let names: Vec<&String> = content.tensor_infos.keys().collect();
    let start = std::time::Instant::now();
    let mut checked = 0;
    for name in &names {
        let raw = file.raw(name).unwrap();
        assert_eq!(
            persona::model::validate::check_tensor(raw.dtype, raw.data),
            None
        );
        checked += raw.data.len();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3;
    println!(
        "weight check: {} tensors, {:.1} MB in {ms:.1} ms",
        names.len(),
        checked as f64 / 1e6
    );
    assert!(ms < 1000.0, "the weight check took {ms:.0} ms");
}
