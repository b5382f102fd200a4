//! The stable fuzz driver the test command runs, so the harnesses in
//! `persona::fuzzing` cannot rot: for each target, every file of its seed
//! corpus (`fuzz/corpus/<target>/`, regressions included) and then a few
//! thousand seeded mutations of them (bit flips, byte inserts and deletes,
//! interesting integers, splices, repeats) within a time budget. Coverage-free
//! and deterministic (fixed seed): a failure names the target and the input,
//! written to `target/fuzz-smoke/` for `cargo fuzz run <target> FILE`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use persona::fuzzing::{self, TARGETS};

/// Mutations per target at most, and the time each target may take for them.
const MUTATIONS: usize = 5000;
const BUDGET: Duration = Duration::from_millis(2000);
/// Inputs grow no longer than this (the GGUF seed is about 17 KB).
const MAX_LEN: usize = 64 * 1024;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut seeds: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().to_string(), bytes)
        })
        .collect();
    if target == "gguf" {
        // The real model's header, from the file set-up fetched (the model
        // is never committed; the committed seeds are synthetic).
        use std::io::Read;
        let mut header = vec![0u8; 4096];
        std::fs::File::open(persona::model::default_model_path())
            .and_then(|mut f| f.read_exact(&mut header))
            .expect("the real model (scripts/setup.sh model)");
        seeds.push(("real_header_4k".into(), header));
    }
    seeds
}

/// xorshift64*: small, fast, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: [u64; 12] = [
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 60,
    i64::MAX as u64,
    u64::MAX,
];

/// One to four stacked mutations of `input`, `other` for splices.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(7) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.insert(at, rng.next() as u8),
            2 if !d.is_empty() => {
                let from = rng.below(d.len());
                let n = 1 + rng.below(16);
                d.drain(from..(from + n).min(d.len()));
            }
            3 => {
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                let w = [1, 2, 4, 8][rng.below(4)];
                let end = (at + w).min(d.len());
                d.splice(at..end, v[..w].iter().copied());
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let n = 1 + rng.below(64.min(other.len() - from));
                d.splice(at..at, other[from..from + n].iter().copied());
            }
            5 if !d.is_empty() => {
                let from = rng.below(d.len());
                let n = 1 + rng.below(32.min(d.len() - from));
                let chunk = d[from..from + n].to_vec();
                d.splice(at..at, chunk.repeat(1 + rng.below(8)));
            }
            _ => d.truncate(at),
        }
    }
    d.truncate(MAX_LEN);
    d
}

fn run_one(target: &str, f: fn(&[u8]), label: &str, input: &[u8]) {
    if std::panic::catch_unwind(|| f(input)).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-smoke");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{target}-crash"));
        let _ = std::fs::write(&path, input);
        panic!(
            "fuzz target {target} panicked on {label} ({} bytes, written to {}); reproduce with `cd fuzz && cargo +nightly fuzz run {target} {}`",
            input.len(),
            path.display(),
            path.display()
        );
    }
}

fn smoke(target: &str) {
    let f = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    fuzzing::init();
    let corpus = seeds(target);
    assert!(!corpus.is_empty(), "{target} has no seed corpus");
    for (name, bytes) in &corpus {
        run_one(target, f, &format!("seed {name}"), bytes);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    let start = Instant::now();
    let mut done = 0;
    while done < MUTATIONS && start.elapsed() < BUDGET {
        let (_, a) = &corpus[rng.below(corpus.len())];
        let (_, b) = &corpus[rng.below(corpus.len())];
        let input = mutate(&mut rng, a, b);
        run_one(target, f, &format!("mutation {done}"), &input);
        done += 1;
    }
    assert!(done >= 100, "{target}: only {done} mutations in {BUDGET:?}");
}

macro_rules! smoke_tests {
    ($($name:ident),*) => {
        $(#[test]
        fn $name() {
            smoke(stringify!($name));
        })*

        /// Every target of `persona::fuzzing` has a smoke test here.
        #[test]
        fn every_target_is_smoked() {
            let here = [$(stringify!($name)),*];
            for (name, _) in TARGETS {
                assert!(here.contains(&name), "no smoke test for target {name}");
            }
        }
    };
}

smoke_tests!(
    gguf,
    peft_adapter,
    persona_toml,
    experts_toml,
    probe_jsonl,
    pairs_jsonl,
    trace_json,
    url_state,
    worker_protocol,
    tokenizer,
    chat_template,
    weights_check
);

/// The synthetic seeds (tiny GGUF, rank-1 adapter) are the committed files;
/// `PERSONA_WRITE_SEEDS=1` rewrites them after a change to `fuzzing::seeds`.
#[test]
fn synthetic_seeds_are_committed() {
    let file = persona::model::GgufFile::open(&persona::model::default_model_path())
        .expect("the real model (scripts/setup.sh model)");
    let config = persona::model::LlamaConfig::from_gguf(&file).unwrap();
    let generated = [
        (
            "gguf",
            "tiny_llama.bin",
            fuzzing::seeds::tiny_gguf().unwrap(),
        ),
        (
            "peft_adapter",
            "rank1_q_v.bin",
            fuzzing::seeds::tiny_adapter(&config),
        ),
    ];
    for (target, name, bytes) in generated {
        let path = corpus_dir(target).join(name);
        if std::env::var_os("PERSONA_WRITE_SEEDS").is_some() {
            std::fs::create_dir_all(corpus_dir(target)).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == bytes,
            "{} differs from fuzzing::seeds; rerun with PERSONA_WRITE_SEEDS=1",
            path.display()
        );
    }
}

/// The tiny GGUF seed goes all the way: it loads as an engine.
#[test]
fn tiny_gguf_seed_loads_as_an_engine() {
    let bytes = fuzzing::seeds::tiny_gguf().unwrap();
    let file = persona::model::GgufFile::from_bytes(bytes).unwrap();
    let engine =
        persona::engine::Engine::load_cpu(&file, persona::backend::cpu::WeightMode::Quantized)
            .unwrap();
    assert_eq!(engine.config().hidden, 32);
    assert!(!engine.tokenizer.encode("hello").unwrap().is_empty());
}
