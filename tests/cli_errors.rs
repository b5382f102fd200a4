//! Bad input through the `persona` binary: a readable one-line error and a
//! non-zero exit, never a panic trace.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

fn persona(args: &[&str], model: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .arg("--model")
        .arg(model)
        .args(args)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic trace: {stderr}");
    (out.status.success(), stderr)
}

fn expect_error(args: &[&str], model: &Path, needle: &str) {
    let (ok, stderr) = persona(args, model);
    assert!(
        !ok,
        "expected failure for {args:?} with {}",
        model.display()
    );
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr:?}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("persona-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn real_model() -> PathBuf {
    persona::model::default_model_path()
}

#[test]
fn missing_model_file() {
    expect_error(
        &["tokenize", "--text", "hi"],
        Path::new("/nonexistent/model.gguf"),
        "scripts/setup.sh model",
    );
}

#[test]
fn truncated_model_file() {
    let bytes = std::fs::read(real_model()).unwrap();
    let path = scratch("truncated.gguf");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    expect_error(&["generate", "--user", "hi"], &path, "truncated");
}

#[test]
fn not_a_gguf_file() {
    let path = scratch("notes.gguf");
    std::fs::write(&path, b"this is a text file, not a model").unwrap();
    expect_error(&["generate", "--user", "hi"], &path, "not a GGUF file");
}

#[test]
fn corrupt_header() {
    let mut bytes = std::fs::read(real_model()).unwrap();
    bytes.truncate(4096);
    for b in &mut bytes[8..64] {
        *b = 0xff;
    }
    let path = scratch("corrupt.gguf");
    std::fs::write(&path, &bytes).unwrap();
    expect_error(&["generate", "--user", "hi"], &path, "corrupt or truncated");
}

#[test]
fn gguf_of_another_architecture() {
    let path = scratch("qwen.gguf");
    let tensor = QTensor::quantize(
        &Tensor::zeros((4, 32), candle_core::DType::F32, &Device::Cpu).unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let arch = Value::String("qwen2".into());
    let mut f = std::fs::File::create(&path).unwrap();
    gguf_file::write(
        &mut f,
        &[("general.architecture", &arch)],
        &[("token_embd.weight", &tensor)],
    )
    .unwrap();
    drop(f);
    expect_error(&["generate", "--user", "hi"], &path, "'qwen2' model");
}

#[test]
fn empty_message() {
    expect_error(&["generate", "--user", "   "], &real_model(), "empty");
}

#[test]
fn prompt_longer_than_the_context() {
    let long = "many words ".repeat(5000);
    expect_error(
        &["generate", "--user", &long],
        &real_model(),
        "context holds 8192",
    );
}

#[test]
fn hostile_steering_settings() {
    let model = real_model();
    expect_error(
        &[
            "run", "--method", "scr", "--alpha", "E=1e300", "--user", "hi",
        ],
        &model,
        "α = 1e300 for expert \"E\" is out of range",
    );
    expect_error(
        &["run", "--method", "mod", "--alpha", "E=NaN", "--user", "hi"],
        &model,
        "out of range",
    );
    let long = "many words ".repeat(5000);
    expect_error(
        &["run", "--method", "scr", "--alpha", "E=1", "--user", &long],
        &model,
        "context holds 8192",
    );
}

#[test]
fn hostile_personas() {
    let model = real_model();
    let persona_file = |name: &str, attributes: Vec<String>| {
        let path = scratch(name);
        let list: Vec<String> = attributes.iter().map(|a| format!("{a:?}")).collect();
        std::fs::write(
            &path,
            format!("name = \"Crowd\"\nattributes = [{}]\n", list.join(", ")),
        )
        .unwrap();
        path
    };
    let crowd = persona_file(
        "crowd.toml",
        (0..1000).map(|i| format!("Trait{i}: value {i}")).collect(),
    );
    expect_error(
        &[
            "run",
            "--method",
            "pdd",
            "--persona",
            crowd.to_str().unwrap(),
            "--user",
            "hi",
        ],
        &model,
        "has 1000 attributes, more than the maximum of 16",
    );
    let verbose = persona_file(
        "verbose.toml",
        (0..8)
            .map(|i| format!("Story{i}: {}", "long tale ".repeat(600)))
            .collect(),
    );
    expect_error(
        &[
            "run",
            "--method",
            "pdd",
            "--persona",
            verbose.to_str().unwrap(),
            "--user",
            "hi",
        ],
        &model,
        "context holds 8192",
    );
}

#[test]
fn nonsense_sampling_settings() {
    expect_error(
        &["generate", "--user", "hi", "--temperature=-1"],
        &real_model(),
        "temperature",
    );
    expect_error(
        &["generate", "--user", "hi", "--max-tokens", "0"],
        &real_model(),
        "max tokens",
    );
}

#[test]
fn generate_json_reports_ids_text_and_speed() {
    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args([
            "generate",
            "--user",
            "Name three colours.",
            "--max-tokens",
            "8",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["generated_ids"].as_array().unwrap().len(), 8);
    assert_eq!(v["prompt_ids"][0], 1, "ChatML starts with <|im_start|>");
    assert!(!v["text"].as_str().unwrap().is_empty());
    assert!(v["tokens_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn make_pairs_refuses_an_axis_without_experts() {
    expect_error(
        &[
            "make-pairs",
            "--axis",
            "X-Y",
            "--out",
            scratch("pairs.jsonl").to_str().unwrap(),
        ],
        &real_model(),
        "no experts for both poles of axis 'X-Y'",
    );
}

#[test]
fn train_adapter_refuses_bad_pairs_and_settings() {
    let pairs = scratch("bad-pairs.jsonl");
    std::fs::write(&pairs, "{\"prompt\": \"not a conversation\"}\n").unwrap();
    let out = scratch("adapter");
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "train-adapter",
            "--pairs",
            pairs.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<String>>()
    };
    let run = |a: Vec<String>, needle: &str| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        expect_error(&a, &real_model(), needle)
    };
    run(args(&[]), "pairs line 1");
    std::fs::write(
        &pairs,
        "{\"prompt\":[{\"role\":\"user\",\"content\":\"Hi?\"}],\"chosen\":[{\"role\":\"assistant\",\"content\":\"Hello!\"}],\"rejected\":[{\"role\":\"assistant\",\"content\":\"Hm.\"}]}\n",
    )
    .unwrap();
    run(args(&["--layers-from", "30"]), "leaves no layer to adapt");
    run(
        args(&["--modules", "q_proj,lm_head"]),
        "unknown module 'lm_head'",
    );
    run(args(&["--beta", "0"]), "--beta and --lr must be positive");
    assert!(
        !out.exists(),
        "nothing is written when the settings are refused"
    );
}
