//! `persona make-pairs` end to end on the real model: probe prompts never
//! reach the pairs, the card and the scores file agree with the pairs
//! written, the contrastive draw widens the pole margin, and nonsense
//! settings are refused.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("persona-make-pairs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Runs make-pairs on `prompts` for E-I; returns (ok, stderr).
fn make_pairs(prompts: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args([
            "--threads",
            "1",
            "make-pairs",
            "--axis",
            "E-I",
            "--max-tokens",
            "16",
        ])
        .arg("--prompts")
        .arg(prompts)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.success(), stderr)
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const PROBE_PROMPT: &str = "I have a free Saturday coming up. Any ideas?";

fn prompts_file() -> PathBuf {
    let path = scratch("prompts.txt");
    std::fs::write(
        &path,
        format!(
            "What's a good way to spend a rainy afternoon?\n{}\nHow should I plan a birthday dinner?\nAny tips for a long train ride?\nHow do I start a new hobby?\n",
            PROBE_PROMPT.to_uppercase()
        ),
    )
    .unwrap();
    path
}

fn mean_margin(scores: &[serde_json::Value]) -> f64 {
    scores
        .iter()
        .map(|s| s["margin"].as_f64().unwrap())
        .sum::<f64>()
        / scores.len() as f64
}

#[test]
fn pairs_leave_out_probe_prompts_and_the_card_counts_what_was_kept() {
    let prompts = prompts_file();
    let out = scratch("contrast.jsonl");
    let scores = scratch("contrast.scores.jsonl");
    let (ok, stderr) = make_pairs(
        &prompts,
        &out,
        &["--contrast", "1", "--scores", scores.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    let pairs = lines(&out);
    let scored = lines(&scores);
    // Four prompts generated: the probe item (in capitals) was removed first.
    assert_eq!(scored.len(), 4, "{stderr}");
    assert!(scored
        .iter()
        .all(|s| !s["prompt"].as_str().unwrap().contains("Saturday")));
    let kept: Vec<&serde_json::Value> = scored.iter().filter(|s| s["verdict"] == "kept").collect();
    assert_eq!(pairs.len(), kept.len());
    for (pair, s) in pairs.iter().zip(&kept) {
        assert_eq!(pair["chosen"][0]["content"], s["chosen"]);
        assert!(s["margin"].as_f64().unwrap() >= 0.3);
        assert!(s["relevance"][0].as_f64().unwrap() >= 0.3);
    }
    let card = std::fs::read_to_string(out.with_extension("card.md")).unwrap();
    assert!(
        card.contains("after removing the 1 that are probe items"),
        "{card}"
    );
    assert!(
        card.contains("| 4 | ") && card.contains(&format!(" | {} |\n", pairs.len())),
        "{card}"
    );

    // The same prompts without the contrast: the answers differ less in the axis.
    let plain = scratch("plain.jsonl");
    let plain_scores = scratch("plain.scores.jsonl");
    let (ok, stderr) = make_pairs(
        &prompts,
        &plain,
        &[
            "--contrast",
            "0",
            "--scores",
            plain_scores.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let (with, without) = (mean_margin(&scored), mean_margin(&lines(&plain_scores)));
    assert!(
        with > without + 0.2,
        "mean pole margin with the contrast {with:.3}, without {without:.3}"
    );
}

#[test]
fn nonsense_contrast_settings_are_refused() {
    let prompts = prompts_file();
    let out = scratch("refused.jsonl");
    for (args, needle) in [
        (["--contrast", "-1"], "contrast must be a number >= 0"),
        (["--plausibility", "0"], "plausibility must be in (0, 1]"),
    ] {
        let (ok, stderr) = make_pairs(&prompts, &out, &args);
        assert!(!ok && stderr.contains(needle), "{args:?}: {stderr}");
    }
}
