//! The row mechanics the decoding methods stand on, on the CPU backend: the
//! backend conformance suite (`conformance/`: batched rows equal rows run
//! alone, truncate + re-feed equals a fresh run, fork shares a prefix, bad
//! steps are refused), sampling from candidates read back equals sampling
//! from whole rows, and first reads with the prefill equal reads of whole
//! rows.

mod common;
mod conformance;

use common::model_file;
use conformance::{fwd, max_diff, A, B};
use persona::backend::cpu::{CpuBackend, WeightMode};
use persona::backend::{Backend, Readout, RowStep};
use persona::engine::sampling::{sample, Sampling};
use persona::engine::{Engine, GenerateParams, RunCache};
use persona::model::LlamaConfig;
use persona::steer::MpgAt;
use persona::steer::ViewSpec;
use persona::steer::{EngineViews, ViewModel};

fn backend() -> CpuBackend {
    let file = model_file();
    CpuBackend::new(
        &file,
        &LlamaConfig::from_gguf(&file).unwrap(),
        WeightMode::Quantized,
    )
    .unwrap()
}

#[test]
fn batched_rows_equal_rows_alone() {
    conformance::batched_rows_equal_rows_alone(&mut backend());
}

#[test]
fn truncate_and_refeed_equals_fresh_run() {
    conformance::truncate_and_refeed_equals_fresh_run(&mut backend());
}

#[test]
fn fork_continues_like_the_original() {
    conformance::fork_continues_like_the_original(&mut backend());
}

#[test]
fn cached_views_equal_a_fresh_prefill() {
    conformance::cached_views_equal_a_fresh_prefill(&mut backend());
}

#[test]
fn bad_steps_are_rejected_and_leave_rows_intact() {
    conformance::bad_steps_are_rejected_and_leave_rows_intact(&mut backend());
}

/// Sampled generation reads back 64 candidates and the tempered mass per
/// step, and the whole row only when the nucleus reaches past them: the
/// same tokens as drawing from whole rows, with the same seed.
#[test]
fn sampled_generation_draws_as_from_whole_rows() {
    let file = model_file();
    let mut engine = Engine::load_cpu(&file, WeightMode::Quantized).unwrap();
    // top-p 1.0: every nucleus is the whole vocabulary (every step re-reads).
    for top_p in [0.9, 1.0] {
        let sampling = Sampling::TopP {
            temperature: 0.8,
            top_p,
            seed: 11,
        };
        let params = GenerateParams {
            max_tokens: 12,
            sampling,
        };
        let mut g = engine.generate(B.to_vec(), params).unwrap();
        let mut got = Vec::new();
        while let Some(ev) = pollster::block_on(g.next_token()).unwrap() {
            got.push(ev.id);
        }
        drop(g);

        let mut b = backend();
        let row = b.new_row().unwrap();
        let mut rng = sampling.rng();
        let last = |b: &mut CpuBackend, tokens: &[u32]| {
            let step = RowStep {
                row,
                tokens,
                readout: Readout::Last,
            };
            fwd(b, &[step])[0].last().to_vec()
        };
        let mut lp = last(&mut b, B);
        let mut want = Vec::new();
        for i in 0..got.len() {
            let id = sample(&lp, &sampling, &mut rng);
            want.push(id);
            if i + 1 < got.len() {
                lp = last(&mut b, &[id]);
            }
        }
        assert_eq!(got, want, "top-p {top_p}");
    }
}

/// Views prefilled with their first reads (the first decision read with
/// the prompt, a few words per view) answer what reading the whole rows
/// after a plain prefill would, with as many forwards and positions.
#[test]
fn first_reads_with_the_prefill_equal_reads_of_whole_rows() {
    let mut b = backend();
    let shared: Vec<u32> = A[..8].iter().chain(B).copied().collect();
    let specs: Vec<ViewSpec> = [A, &shared[..], B]
        .iter()
        .map(|p| ViewSpec {
            prompt: p.to_vec(),
            mix: Vec::new(),
        })
        .collect();
    let proposal = Sampling::TopP {
        temperature: 0.7,
        top_p: 0.9,
        seed: 0,
    };
    let reads = MpgAt::first_reads(&[1.0, -0.5], &proposal);

    // No prefix cache: both prefills compute every position.
    let mut off = RunCache::new(b.config(), 0);
    let (rows, plain_cost, plain_prefill) = {
        let v = pollster::block_on(EngineViews::new(&mut b, &mut off, &specs, &[])).unwrap();
        let rows: Vec<Vec<f32>> = (0..3).map(|i| v.next(i).to_vec()).collect();
        (rows, v.cost(), v.prefill)
    };
    let mut v = pollster::block_on(EngineViews::new(&mut b, &mut off, &specs, &reads)).unwrap();
    assert!(v.next(0).is_empty(), "whole rows were not read");
    assert_eq!(v.cost(), plain_cost);
    assert_eq!(v.prefill, plain_prefill);
    let got = v.take_first().unwrap();
    assert!(v.take_first().is_none(), "taken once");
    let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    for (r, g) in reads.iter().zip(&got) {
        let want = r.read(&refs);
        let ids = |m: &persona::backend::Mixed| m.top.iter().map(|t| t.0).collect::<Vec<_>>();
        assert_eq!(ids(g), ids(&want), "{:?}", r.mix);
        for (a, w) in g.at_top.iter().zip(&want.at_top) {
            assert!(max_diff(a, w) < 1e-4, "{:?}", r.mix);
        }
        if let (Some(a), Some(w)) = (g.mass, want.mass) {
            assert!((a - w).abs() / w < 1e-5);
        }
    }
    // `reread` gives the whole rows back.
    pollster::block_on(v.reread(&[0, 1, 2])).unwrap();
    for (i, row) in rows.iter().enumerate() {
        assert!(max_diff(v.next(i), row) < 1e-4, "view {i}");
    }
}
