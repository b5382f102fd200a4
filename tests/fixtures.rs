//! The engine against references this project did not write (see
//! tests/fixtures/README.md): llama.cpp's tokenizer ids and greedy tokens,
//! and a float64 NumPy forward's log-probs.

mod common;

use common::{fixture, ids, model_file};
use persona::backend::cpu::{CpuBackend, WeightMode};
use persona::backend::{Backend, Readout, RowStep};
use persona::engine::sampling::argmax;
use persona::engine::Engine;
use persona::model::{LlamaConfig, Role, Tokenizer};

/// Our ids for every case of a tokenizer fixture equal llama.cpp's.
fn tokenizer_cases_agree(name: &str, encode: impl Fn(&Tokenizer, &str) -> Vec<u32>) {
    let tokenizer = Tokenizer::from_gguf(&model_file()).unwrap();
    let cases = fixture(name)["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 30);
    let mut mismatches = Vec::new();
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let got = encode(&tokenizer, text);
        if got != ids(&case["ids"]) {
            mismatches.push(format!(
                "{text:?}: ours {got:?}, llama.cpp {:?}",
                ids(&case["ids"])
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn tokenizer_ids_equal_llama_cpp() {
    // Control tokens written in the text recognised (llama.cpp `special=True`).
    tokenizer_cases_agree("tokenizer.json", |t, text| {
        t.encode_with_specials(text).unwrap()
    });
}

#[test]
fn plain_text_ids_equal_llama_cpp_without_special_parsing() {
    // What every message, persona and file gets (llama.cpp `special=False`).
    tokenizer_cases_agree("tokenizer_plain.json", |t, text| t.encode(text).unwrap());
}

#[test]
fn chat_template_renders_like_jinja2() {
    let engine = Engine::load_cpu(&model_file(), WeightMode::Quantized).unwrap();
    for case in fixture("greedy.json")["cases"].as_array().unwrap() {
        let system = case["system"].as_str();
        let user = case["user"].as_str().unwrap();
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(persona::model::ChatMessage::new(Role::System, s));
        }
        messages.push(persona::model::ChatMessage::new(Role::User, user));
        assert_eq!(
            engine.template.render(&messages).unwrap(),
            case["prompt_text"].as_str().unwrap()
        );
        assert_eq!(
            engine.chat_prompt(system, user).unwrap(),
            ids(&case["prompt_ids"])
        );
    }
}

/// Gap between the two largest log-probs.
fn top2_gap(lp: &[f32]) -> f32 {
    let mut best = [f32::NEG_INFINITY; 2];
    for &v in lp {
        if v > best[0] {
            best = [v, best[0]];
        } else if v > best[1] {
            best[1] = v;
        }
    }
    best[0] - best[1]
}

/// Greedy tokens equal llama.cpp's (f32 KV cache). llama.cpp quantizes
/// activations to 8 bits and so deviates up to ~0.25 nats from the exact math
/// that our kernels compute; a case may therefore part ways only at a
/// near-tie (our top-2 gap under 0.35 nats), and the continuation after such
/// a fork is not compared. At least three cases must agree on all 64 tokens
/// (fixtures/README.md: the float64 reference itself forks from llama.cpp in
/// cases 3 and 4).
#[test]
fn greedy_tokens_equal_llama_cpp() {
    let (full, mean) = greedy_against_llama_cpp(WeightMode::Quantized);
    assert!(full >= 3, "only {full} cases agree on all 64 greedy tokens");
    assert!(
        mean <= 0.05,
        "mean top-1 log-prob difference to llama.cpp {mean}"
    );
}

/// The integer dots round activations to 8 bits as llama.cpp does (its
/// Q8 blocks keep their scales in f16, ours in f32, so the two roundings
/// are not the same, and any ulp upstream moves which way a value rounds):
/// the same mean bound as the exact kernels; at least one case agrees on all
/// 64 tokens and every other forks only at a near-tie.
#[test]
fn int8_greedy_tokens_equal_llama_cpp() {
    let (full, mean) = greedy_against_llama_cpp(WeightMode::Int8);
    assert!(full >= 1, "no case agrees on all 64 greedy tokens");
    assert!(
        mean <= 0.05,
        "mean top-1 log-prob difference to llama.cpp {mean}"
    );
}

/// Greedy decoding of every `greedy.json` case against llama.cpp's tokens
/// and log-probs: (cases identical for 64 tokens, mean top-1 difference).
fn greedy_against_llama_cpp(mode: WeightMode) -> (usize, f64) {
    let file = model_file();
    let mut backend =
        CpuBackend::new(&file, &LlamaConfig::from_gguf(&file).unwrap(), mode).unwrap();
    let cases = fixture("greedy.json")["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 3);
    let (mut sum_diff, mut n_diff, mut full) = (0f64, 0, 0);
    for (c, case) in cases.iter().enumerate() {
        let want = ids(&case["greedy_ids"]);
        let want_lp: Vec<f64> = case["greedy_logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(want.len(), 64);
        let row = backend.new_row().unwrap();
        let prompt = ids(&case["prompt_ids"]);
        let mut lp = pollster::block_on(backend.forward(&[RowStep {
            row,
            tokens: &prompt,
            readout: Readout::Last,
        }]))
        .unwrap()[0]
            .last()
            .to_vec();
        let mut agreed = 0;
        for (i, &w) in want.iter().enumerate() {
            let got = argmax(&lp);
            if got != w {
                let gap = top2_gap(&lp);
                assert!(gap < 0.35, "case {c} step {i}: ours {got}, llama.cpp {w}, and our top-2 gap is {gap} nats: not a near-tie");
                eprintln!("case {c}: forks from llama.cpp at step {i} (near-tie, top-2 gap {gap:.3} nats)");
                break;
            }
            let diff = (lp[got as usize] as f64 - want_lp[i]).abs();
            assert!(
                diff <= 0.35,
                "case {c} step {i}: top-1 log-prob {} vs llama.cpp {} (diff {diff})",
                lp[got as usize],
                want_lp[i]
            );
            (sum_diff, n_diff, agreed) = (sum_diff + diff, n_diff + 1, agreed + 1);
            lp = pollster::block_on(backend.forward(&[RowStep {
                row,
                tokens: &[got],
                readout: Readout::Last,
            }]))
            .unwrap()[0]
                .last()
                .to_vec();
        }
        full += usize::from(agreed == want.len());
        backend.free_row(row);
    }
    let mean = sum_diff / n_diff as f64;
    eprintln!(
        "{mode:?}: {full} of {} cases identical for 64 tokens; mean top-1 log-prob difference {mean:.4}",
        cases.len()
    );
    (full, mean)
}

/// How far the engine's log-probs are from the float64 reference.
struct Gaps {
    /// Max over the top 10 at every position.
    top10_max: f64,
    /// Mean and max at the reference's top-1 token.
    top1_mean: f64,
    top1_max: f64,
}

/// The gaps to logprobs_f64.json over every position of every sequence,
/// failing past `tolerance` on any top-10 log-prob.
fn top10_against_float64(mode: WeightMode, tolerance: f64) -> Gaps {
    let file = model_file();
    let mut backend =
        CpuBackend::new(&file, &LlamaConfig::from_gguf(&file).unwrap(), mode).unwrap();
    let (mut worst, mut top1_sum, mut top1_max, mut n) = (0f64, 0f64, 0f64, 0);
    for case in fixture("logprobs_f64.json")["cases"].as_array().unwrap() {
        let tokens = ids(&case["ids"]);
        let row = backend.new_row().unwrap();
        let out = pollster::block_on(backend.forward(&[RowStep {
            row,
            tokens: &tokens,
            readout: Readout::All,
        }]))
        .unwrap();
        assert_eq!(case["top_ids"].as_array().unwrap().len(), tokens.len());
        for p in 0..tokens.len() {
            for (rank, (id, lp)) in ids(&case["top_ids"][p])
                .into_iter()
                .zip(case["top_logprobs"][p].as_array().unwrap())
                .enumerate()
            {
                let ours = out[0].position(p)[id as usize] as f64;
                let d = (ours - lp.as_f64().unwrap()).abs();
                worst = worst.max(d);
                if rank == 0 {
                    (top1_sum, top1_max, n) = (top1_sum + d, top1_max.max(d), n + 1);
                }
                assert!(
                    d <= tolerance,
                    "{mode:?} position {p} token {id}: ours {ours} vs float64 {lp} (diff {d:e})"
                );
            }
        }
        backend.free_row(row);
    }
    Gaps {
        top10_max: worst,
        top1_mean: top1_sum / n as f64,
        top1_max,
    }
}

#[test]
fn dequantized_logprobs_match_float64_numpy() {
    let worst = top10_against_float64(WeightMode::Dequantized, 1e-4).top10_max;
    eprintln!("f32 dequantized: max |log-prob difference| over the top 10 = {worst:e}");
}

/// The integer dots' 8-bit activations move the log-probs as llama.cpp's
/// do: on these sequences llama.cpp's top-1 log-prob differs from the
/// float64 reference by 0.04 on average and 0.24 at most
/// (fixtures/README.md). Ours measured 0.047 / 0.357 (and 0.043 / 0.267
/// before exp and sin came from `libm`: an ulp anywhere upstream changes
/// which way some activations round, so these figures move by that much
/// with any change to the forward); held to 0.06 / 0.45. Tail tokens move
/// more (a top-10 log-prob near −10 by 1.73): every top-10 log-prob
/// within 2.5.
#[test]
fn int8_logprobs_stay_as_near_float64_numpy_as_llama_cpp() {
    let g = top10_against_float64(WeightMode::Int8, 2.5);
    let (mean, worst) = (g.top1_mean, g.top1_max);
    eprintln!(
        "int8 path: top-1 log-prob vs float64, mean {mean:.4}, max {worst:.4}; top 10 max {}",
        g.top10_max
    );
    assert!(mean <= 0.06 && worst <= 0.45, "mean {mean}, max {worst}");
}

/// The exact path keeps Q4_1/Q8_0 weights but computes in f32: it must give
/// the dequantized model's log-probs (the issue asks top-1 within 0.25; we
/// hold every top-10 log-prob to 1e-3).
#[test]
fn quantized_logprobs_match_float64_numpy() {
    let worst = top10_against_float64(WeightMode::Quantized, 1e-3).top10_max;
    eprintln!("quantized path: max |log-prob difference| over the top 10 = {worst:e}");
}
