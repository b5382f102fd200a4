//! The page's trace import (`page_data::trace_file`) against traces the CLI
//! really writes (`persona run --trace`): every method's trace is accepted,
//! and a trace that claims what no answer can hold is refused with a message
//! that says what is wrong.

use std::path::PathBuf;
use std::process::Command;

use persona::TraceFile;

fn cli_trace(name: &str, args: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("persona-trace-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{name}.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args([
            "run",
            "--user",
            "What do you do on a rainy day?",
            "--max-tokens",
            "6",
        ])
        .args(args)
        .arg("--trace")
        .arg(&path)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&path).unwrap()
}

fn traces() -> Vec<(&'static str, String)> {
    vec![
        (
            "pdd",
            cli_trace("pdd", &["--method", "pdd", "--persona", "captain_mara_vey"]),
        ),
        (
            "scr",
            cli_trace(
                "scr",
                &["--method", "scr", "--alpha", "E=1", "--alpha", "I=-0.5"],
            ),
        ),
        (
            "token-rs",
            cli_trace("token-rs", &["--method", "token-rs", "--alpha", "E=1"]),
        ),
        (
            "mod",
            cli_trace("mod", &["--method", "mod", "--alpha", "E=1"]),
        ),
    ]
}

#[test]
fn every_cli_trace_is_accepted_and_impossible_claims_are_refused() {
    for (method, json) in traces() {
        let trace = TraceFile::parse(&json).unwrap_or_else(|e| panic!("{method}: {e}"));
        assert!(!trace.events.is_empty(), "{method}");

        // Each claim alone, as the page's hostile e2e check makes them together.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut claims: Vec<(&str, serde_json::Value)> = Vec::new();
        let mut limit = value.clone();
        limit["config"]["max_tokens"] = 1_000_000_000u64.into();
        claims.push(("a limit of 10^9 tokens", limit));
        let mut token = value.clone();
        let first = |v: &mut serde_json::Value, kind: &str| -> Option<usize> {
            v["events"]
                .as_array()
                .unwrap()
                .iter()
                .position(|e| e["type"] == kind)
        };
        let t = first(&mut token, "token").expect("a token event");
        token["events"][t]["index"] = 1_000_000_000u64.into();
        claims.push(("a token at index 10^9", token));
        let mut done = value.clone();
        let d = first(&mut done, "done").expect("a done event");
        done["events"][d]["stats"]["tokens"] = 1_000_000_000u64.into();
        claims.push(("an answer of 10^9 tokens", done));
        let mut alpha = value.clone();
        if alpha["config"]["experts"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
        {
            alpha["config"]["experts"][0]["alpha"] = 1e300.into();
            claims.push(("α = 1e300", alpha));
        }
        let mut crowd = value.clone();
        if crowd["config"]["persona"].is_object() {
            let many: Vec<String> = (0..1000).map(|i| format!("Trait{i}: value")).collect();
            crowd["config"]["persona"]["attributes"] = many.into();
            claims.push(("1,000 attributes", crowd));
        }
        if let Some(c) = first(&mut value.clone(), "chunk") {
            let mut chunk = value.clone();
            chunk["events"][c]["accepted"] = 1_000_000_000u64.into();
            claims.push(("a chunk accepting 10^9 tokens", chunk));
        }
        for (what, bad) in claims {
            let err = TraceFile::parse(&bad.to_string())
                .err()
                .unwrap_or_else(|| panic!("{method}: {what} was accepted"));
            assert!(
                err.contains("token") || err.contains("α") || err.contains("attributes"),
                "{method}, {what}: {err}"
            );
        }
    }
}
