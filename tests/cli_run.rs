//! `persona run` on the real model: every method end to end, the trace it
//! writes, and clear errors for nonsense settings before any compute.

use std::process::Command;

fn persona(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(args)
        .output()
        .expect("runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(!stderr.contains("panicked"), "panic trace: {stderr}");
    (out.status.success(), stdout, stderr)
}

const USER: &str = "How should I spend a rainy Sunday afternoon?";

fn trace_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("persona-trace-{}-{name}.json", std::process::id()))
}

#[test]
fn every_method_runs_end_to_end_and_writes_a_trace() {
    let runs: &[(&str, &[&str])] = &[
        ("base", &[]),
        ("pp", &["--persona", "captain_mara_vey"]),
        (
            "pdd",
            &["--persona", "captain_mara_vey", "--pie-tokens", "6"],
        ),
        ("scr", &["--alpha", "E=1.0", "--alpha", "T=-0.5"]),
        ("mod", &["--alpha", "E=0.6", "--alpha", "F=0.4"]),
        ("token-rs", &["--alpha", "E=1.0", "--alpha", "T=-0.5"]),
        ("seq-rs", &["--alpha", "E=1.0"]),
        (
            "best-of-n",
            &[
                "--alpha",
                "E=1.0",
                "--alpha",
                "T=-0.5",
                "--max-seq-tries",
                "3",
            ],
        ),
    ];
    for (method, extra) in runs {
        let trace = trace_path(method);
        let trace_s = trace.to_string_lossy().to_string();
        let mut args = vec![
            "run",
            "--method",
            method,
            "--user",
            USER,
            "--max-tokens",
            "8",
            "--seed",
            "3",
            "--trace",
            &trace_s,
        ];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = persona(&args);
        assert!(ok, "{method}: {stderr}");
        assert!(!stdout.trim().is_empty(), "{method} printed no answer");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        let events = v["events"].as_array().unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds.last(), Some(&"done"), "{method}");
        let tokens = kinds.iter().filter(|k| **k == "token").count();
        assert_eq!(
            tokens,
            events.last().unwrap()["stats"]["tokens"].as_u64().unwrap() as usize,
            "{method}"
        );
        assert!((1..=8).contains(&tokens));
        let text: String = events
            .iter()
            .filter(|e| e["type"] == "token")
            .map(|e| e["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            text,
            v["text"].as_str().unwrap(),
            "{method}: streamed text equals the trace's"
        );
        match *method {
            "pdd" => {
                let imp = &events[0];
                assert_eq!(imp["type"], "importance");
                assert_eq!(
                    imp["attributes"].as_array().unwrap().len(),
                    imp["raw"].as_array().unwrap().len()
                );
                assert_eq!(imp["selected"].as_array().unwrap().len(), 2);
                let tok = events.iter().find(|e| e["type"] == "token").unwrap();
                assert!(tok["reward"].is_number());
                assert_eq!(tok["rewards"].as_array().unwrap().len(), 2);
                assert_eq!(tok["top"].as_array().unwrap().len(), 5);
            }
            "scr" => {
                let chunk = events
                    .iter()
                    .find(|e| e["type"] == "chunk")
                    .expect("a chunk event");
                assert!(chunk["log_m"].is_number());
                assert_eq!(chunk["log_ratios"].as_array().unwrap().len(), 2);
                assert_eq!(
                    chunk["s"].as_array().unwrap().len(),
                    chunk["proposed"].as_array().unwrap().len()
                );
            }
            "best-of-n" => {
                // Three whole answers proposed, the best kept; every token
                // carries each expert's log-ratio.
                let stats = &events.last().unwrap()["stats"];
                assert_eq!(
                    stats["proposed"].as_u64().unwrap() - stats["rejected"].as_u64().unwrap(),
                    tokens as u64
                );
                let tok = events.iter().find(|e| e["type"] == "token").unwrap();
                assert_eq!(tok["rewards"].as_array().unwrap().len(), 2);
            }
            _ => {}
        }
        let _ = std::fs::remove_file(trace);
    }
}

#[test]
fn same_seed_same_answer_different_alpha_different_answer() {
    let run = |alpha: &str| {
        persona(&[
            "run",
            "--method",
            "scr",
            "--user",
            USER,
            "--max-tokens",
            "24",
            "--seed",
            "11",
            "--alpha",
            alpha,
            "--alpha",
            "T=-0.5",
        ])
        .1
    };
    let a = run("E=1.0");
    assert_eq!(a, run("E=1.0"));
    assert_ne!(a, run("E=3.0"));
}

fn expect_error(args: &[&str], needle: &str) {
    let (ok, _, stderr) = persona(args);
    assert!(!ok, "{args:?} should fail");
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr:?}");
}

#[test]
fn the_sampler_settings_work_from_the_command_line() {
    // The exact preset reports its bound tests; --threads gives the same
    // answer; nonsense thread counts and targets, and normalising weights
    // that sum to zero, fail clearly.
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--method",
            "scr",
            "--alpha",
            "E=1.0",
            "--alpha",
            "T=-0.5",
            "--user",
            USER,
            "--max-tokens",
            "8",
            "--seed",
            "5",
        ];
        args.extend_from_slice(extra);
        let (ok, stdout, stderr) = persona(&args);
        assert!(ok, "{extra:?}: {stderr}");
        (stdout, stderr)
    };
    let (_, stderr) = run(&["--exact"]);
    assert!(
        stderr.contains("bound violations") && stderr.contains("tests"),
        "{stderr}"
    );
    let (one, _) = run(&["--target", "mpg", "--threads", "1"]);
    let (three, _) = run(&["--target", "mpg", "--threads", "3"]);
    assert_eq!(one, three, "the answer does not depend on the thread count");
    expect_error(
        &["--threads", "0", "generate", "--user", USER],
        "threads must be between 1 and",
    );
    expect_error(
        &[
            "run", "--method", "scr", "--alpha", "E=1", "--target", "soft", "--user", USER,
        ],
        "unknown target",
    );
    expect_error(
        &[
            "run",
            "--method",
            "mod",
            "--alpha",
            "E=1",
            "--alpha",
            "F=-1",
            "--normalize-alpha",
            "--user",
            USER,
        ],
        "positive sum",
    );
}

#[test]
fn the_probe_says_which_methods_it_cannot_score() {
    expect_error(
        &["probe", "--method", "best-of-n", "--alpha", "E=1.0"],
        "the probe cannot score Best-of-N",
    );
}

#[test]
fn nonsense_settings_fail_clearly_before_any_compute() {
    let dir = std::env::temp_dir().join(format!("persona-run-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_string_lossy().to_string()
    };
    let empty = write(
        "empty.toml",
        "name = \"Nobody\"\nsummary = \"x\"\nattributes = []\n",
    );
    let dup = write(
        "dup.toml",
        "name = \"Twin\"\nsummary = \"x\"\nattributes = [\"Age: 3\", \"age: 4\"]\n",
    );
    let long_attr = format!("Story: {}", "once upon a time ".repeat(2500));
    let long = write(
        "long.toml",
        &format!("name = \"Verbose\"\nsummary = \"x\"\nattributes = [\"Age: 3\", {long_attr:?}]\n"),
    );
    expect_error(
        &["run", "--method", "nope", "--user", USER],
        "unknown method 'nope'",
    );
    expect_error(
        &[
            "run",
            "--method",
            "pdd",
            "--persona",
            &empty,
            "--user",
            USER,
        ],
        "no attributes",
    );
    expect_error(
        &["run", "--method", "pdd", "--persona", &dup, "--user", USER],
        "duplicate",
    );
    expect_error(
        &[
            "run", "--method", "scr", "--alpha", "E=0", "--alpha", "T=0", "--user", USER,
        ],
        "all α are zero",
    );
    expect_error(
        &[
            "run", "--method", "scr", "--alpha", "E=1", "--k", "0", "--user", USER,
        ],
        "k must be at least 1",
    );
    expect_error(
        &[
            "run",
            "--method",
            "pdd",
            "--persona",
            "captain_mara_vey",
            "--beta",
            "0",
            "--user",
            USER,
        ],
        "β must be a positive",
    );
    expect_error(
        &[
            "run",
            "--method",
            "pdd",
            "--persona",
            "captain_mara_vey",
            "--top-k",
            "9",
            "--user",
            USER,
        ],
        "K = 9",
    );
    expect_error(
        &["run", "--method", "pdd", "--persona", &long, "--user", USER],
        "context holds 8192",
    );
    expect_error(
        &["run", "--method", "scr", "--alpha", "Q=1", "--user", USER],
        "no expert named 'Q'",
    );
    expect_error(
        &["run", "--method", "soups", "--alpha", "E=1", "--user", USER],
        "adapters",
    );
    expect_error(
        &[
            "run",
            "--method",
            "pp",
            "--persona",
            "nobody_here",
            "--user",
            USER,
        ],
        "no preset of that name",
    );
}
