//! `persona chat` on the real model: lines from standard input, one JSON
//! object per answer; a setting command re-runs the last answer from the
//! prefix cache, a new turn computes only what is new, and bad lines are
//! clear errors that leave the conversation as it was.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Runs `persona chat ARGS` with `input` on stdin; the answers' JSON
/// objects and stderr.
fn chat(args: &[&str], input: &str) -> (Vec<Value>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_persona"))
        .arg("chat")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "panic trace: {stderr}");
    assert!(out.status.success(), "{stderr}");
    let answers = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (answers, stderr)
}

fn n(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn scr_chat_reruns_from_the_cache_and_extends_turns() {
    let input = "Hi! What should I do this weekend?\n\
                 /alpha E=0.5\n\
                 /alpha Q=1\n\
                 /beta nonsense\n\
                 And what should I bring?\n";
    let (answers, stderr) = chat(
        &[
            "--method",
            "scr",
            "--alpha",
            "E=1.0",
            "--alpha",
            "T=-0.5",
            "--max-tokens",
            "6",
            "--json",
        ],
        input,
    );
    assert_eq!(answers.len(), 3, "two turns and one re-run: {stderr}");
    // Unknown expert and a bad number: errors naming the problem.
    assert!(stderr.contains("Q"), "{stderr}");
    assert!(stderr.contains("nonsense"), "{stderr}");
    for a in &answers {
        for key in [
            "tokens",
            "elapsed_ms",
            "ttft_ms",
            "prefill_positions",
            "cached_positions",
        ] {
            assert!(n(a, key) >= 0.0);
        }
        assert!(n(a, "ttft_ms") <= n(a, "elapsed_ms"));
        assert!(n(a, "tokens") > 0.0);
    }
    let (first, rerun, second) = (&answers[0], &answers[1], &answers[2]);
    assert_eq!(first["rerun"], false);
    assert_eq!(n(first, "cached_positions"), 0.0, "a fresh session");
    // The re-run: three views (reference and two experts), one position each.
    assert_eq!(rerun["rerun"], true);
    assert_eq!(n(rerun, "prefill_positions"), 3.0, "{rerun}");
    assert!(n(rerun, "cached_positions") > 0.0);
    // The next turn follows the re-run answer: only the new turn is computed.
    assert_eq!(second["turn"], 3);
    // Per view: the answer's end, the template's markers around the new
    // user turn (6 words) and the assistant opener: under 20 positions,
    // against over 60 for the whole conversation.
    assert!(n(second, "prefill_positions") <= 3.0 * 20.0, "{second}");
    assert!(n(second, "cached_positions") >= 3.0 * 40.0, "{second}");
}

#[test]
fn pdd_chat_reuses_importance_and_reports_cache_off() {
    let input = "Tell me about your ship.\n/beta 3\n/k 1\n/weights 1,0,0,0,0,0,0\n/weights 1,2\n";
    let args = [
        "--method",
        "pdd",
        "--persona",
        "captain_mara_vey",
        "--pie-tokens",
        "6",
        "--max-tokens",
        "4",
        "--json",
    ];
    let (answers, stderr) = chat(&args, input);
    assert_eq!(answers.len(), 4, "{stderr}");
    assert!(stderr.contains("importance weights"), "{stderr}");
    let pie = |a: &Value| n(&a["stats"], "forward_calls");
    for rerun in &answers[1..] {
        assert_eq!(rerun["rerun"], true);
        assert!(
            pie(rerun) < pie(&answers[0]),
            "no PIE token generated again: {rerun}"
        );
        // One position for the full persona's view and for each attribute
        // read (K = 2, then 1, then the one non-zero weight), the other
        // attributes' views untouched.
        assert!(n(rerun, "prefill_positions") <= 3.0, "{rerun}");
        assert!(n(rerun, "prefill_positions") >= 2.0, "{rerun}");
        assert_eq!(rerun["stats"]["reused_importance"], true, "{rerun}");
    }
    // With the cache off, every answer computes everything and says why.
    let mut off = args.to_vec();
    off.extend(["--cache-mb", "0"]);
    let (answers, _) = chat(&off, "Tell me about your ship.\n/beta 3\n");
    let [a, b] = &answers[..] else {
        panic!("two answers")
    };
    assert_eq!(n(b, "cached_positions"), 0.0);
    assert_eq!(n(a, "prefill_positions"), n(b, "prefill_positions"));
    assert!(b["stats"]["cache_note"].is_string(), "{b}");
}

#[test]
fn an_invalid_budget_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["chat", "--method", "base", "--cache-mb", "-5"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("prefix cache budget"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
