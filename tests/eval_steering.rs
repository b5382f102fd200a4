//! `persona eval-steering` end to end on the real model and a shipped
//! adapter: one line per answer (the plain model, then each method at
//! α = −1 and +1), each with finite judge scores, a perplexity and a loop
//! flag; the plain answer is the same as `persona run --method base`'s.

use std::process::Command;

#[test]
fn every_setting_answers_and_is_scored() {
    let out = std::env::temp_dir().join(format!("persona-eval-{}.jsonl", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args([
            "--threads",
            "1",
            "eval-steering",
            "--axis",
            "E-I",
            "--limit",
            "1",
        ])
        .args(["--methods", "soups,mod", "--max-tokens", "8", "--out"])
        .arg(&out)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let settings: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap().to_string(),
                r["alpha"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        settings,
        [
            ("base", 0.0),
            ("soups", -1.0),
            ("soups", 1.0),
            ("mod", -1.0),
            ("mod", 1.0)
        ]
        .map(|(m, a)| (m.to_string(), a))
    );
    for r in &rows {
        for key in ["pole_ratio", "pole_ratio_shots", "nll"] {
            assert!(r[key].as_f64().unwrap().is_finite(), "{key}: {r}");
        }
        assert!(r["nll"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["loop"].is_boolean());
        assert!(r["tokens"].as_u64().unwrap() <= 8);
    }
    // Soups and MOD at α = +1 are the same distribution (the adapter alone),
    // so greedy decoding gives the same answer.
    assert_eq!(rows[2]["text"], rows[4]["text"]);
    let base = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args([
            "--threads",
            "1",
            "run",
            "--method",
            "base",
            "--max-tokens",
            "8",
            "--user",
        ])
        .arg(rows[0]["prompt"].as_str().unwrap())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&base.stdout);
    assert_eq!(
        text.trim_end_matches('\n'),
        rows[0]["text"].as_str().unwrap()
    );
}

#[test]
fn a_scale_that_is_not_positive_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args([
            "eval-steering",
            "--axis",
            "E-I",
            "--scale",
            "0",
            "--out",
            "/dev/null",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("scale must be a positive number"),
        "{stderr}"
    );
}
