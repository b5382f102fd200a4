//! The row mechanics the decoding methods stand on: batched rows equal rows
//! run alone, truncate + re-feed equals a fresh run, fork shares a prefix,
//! and sampling from candidates read back equals sampling from whole rows.

mod common;

use common::model_file;
use persona::backend::cpu::{CpuBackend, WeightMode};
use persona::backend::{Backend, LogProbs, Readout, RowStep};
use persona::engine::sampling::{sample, Sampling};
use persona::engine::{Engine, GenerateParams};
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

fn fwd(b: &mut CpuBackend, steps: &[RowStep<'_>]) -> Vec<LogProbs> {
    pollster::block_on(b.forward(steps)).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

const A: &[u32] = &[
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 2, 198, 1, 4093, 198,
];
const B: &[u32] = &[1, 4093, 198, 19556, 905, 30];

#[test]
fn batched_rows_equal_rows_alone() {
    let mut b = backend();
    let (ra, rb) = (b.new_row().unwrap(), b.new_row().unwrap());
    let together = fwd(
        &mut b,
        &[
            RowStep {
                row: ra,
                tokens: A,
                readout: Readout::All,
            },
            RowStep {
                row: rb,
                tokens: B,
                readout: Readout::Last,
            },
        ],
    );
    let (sa, sb) = (b.new_row().unwrap(), b.new_row().unwrap());
    let alone_a = fwd(
        &mut b,
        &[RowStep {
            row: sa,
            tokens: A,
            readout: Readout::All,
        }],
    );
    let alone_b = fwd(
        &mut b,
        &[RowStep {
            row: sb,
            tokens: B,
            readout: Readout::Last,
        }],
    );
    assert_eq!(together[0].positions(), A.len());
    assert!(max_diff(&together[0].data, &alone_a[0].data) < 1e-4);
    assert!(max_diff(&together[1].data, &alone_b[0].data) < 1e-4);
    // Decode steps of different lengths in one call.
    let step = fwd(
        &mut b,
        &[
            RowStep {
                row: ra,
                tokens: &[42],
                readout: Readout::Last,
            },
            RowStep {
                row: rb,
                tokens: &[43, 44],
                readout: Readout::All,
            },
        ],
    );
    let one_a = fwd(
        &mut b,
        &[RowStep {
            row: sa,
            tokens: &[42],
            readout: Readout::Last,
        }],
    );
    let one_b = fwd(
        &mut b,
        &[RowStep {
            row: sb,
            tokens: &[43, 44],
            readout: Readout::All,
        }],
    );
    assert!(max_diff(&step[0].data, &one_a[0].data) < 1e-4);
    assert!(max_diff(&step[1].data, &one_b[0].data) < 1e-4);
}

#[test]
fn truncate_and_refeed_equals_fresh_run() {
    let mut b = backend();
    let row = b.new_row().unwrap();
    fwd(
        &mut b,
        &[RowStep {
            row,
            tokens: A,
            readout: Readout::None,
        }],
    );
    fwd(
        &mut b,
        &[RowStep {
            row,
            tokens: &[500, 501, 502],
            readout: Readout::All,
        }],
    );
    b.truncate_row(row, A.len()).unwrap();
    assert_eq!(b.row_len(row).unwrap(), A.len());
    let again = fwd(
        &mut b,
        &[RowStep {
            row,
            tokens: &[600, 601],
            readout: Readout::All,
        }],
    );
    let fresh_row = b.new_row().unwrap();
    let mut seq = A.to_vec();
    seq.extend([600, 601]);
    let fresh = fwd(
        &mut b,
        &[RowStep {
            row: fresh_row,
            tokens: &seq,
            readout: Readout::All,
        }],
    );
    let tail = &fresh[0].data[(A.len()) * fresh[0].vocab..];
    assert!(max_diff(&again[0].data, tail) < 1e-4);
}

#[test]
fn fork_continues_like_the_original() {
    let mut b = backend();
    let row = b.new_row().unwrap();
    fwd(
        &mut b,
        &[RowStep {
            row,
            tokens: A,
            readout: Readout::None,
        }],
    );
    let fork = b.fork_row(row, 8).unwrap();
    assert_eq!(b.row_len(fork).unwrap(), 8);
    let from_fork = fwd(
        &mut b,
        &[RowStep {
            row: fork,
            tokens: &A[8..],
            readout: Readout::Last,
        }],
    );
    let fresh = b.new_row().unwrap();
    let direct = fwd(
        &mut b,
        &[RowStep {
            row: fresh,
            tokens: A,
            readout: Readout::Last,
        }],
    );
    assert!(max_diff(&from_fork[0].data, &direct[0].data) < 1e-4);
    assert!(
        b.fork_row(row, A.len() + 1).is_err(),
        "cannot fork past the cached length"
    );
}

#[test]
fn bad_steps_are_rejected_and_leave_rows_intact() {
    let mut b = backend();
    let row = b.new_row().unwrap();
    fwd(
        &mut b,
        &[RowStep {
            row,
            tokens: B,
            readout: Readout::None,
        }],
    );
    let err = |b: &mut CpuBackend, steps: &[RowStep<'_>]| {
        pollster::block_on(b.forward(steps))
            .unwrap_err()
            .to_string()
    };
    assert!(err(
        &mut b,
        &[
            RowStep {
                row,
                tokens: &[1],
                readout: Readout::Last
            },
            RowStep {
                row,
                tokens: &[2],
                readout: Readout::Last
            }
        ]
    )
    .contains("twice"));
    assert!(err(
        &mut b,
        &[RowStep {
            row,
            tokens: &[60000],
            readout: Readout::Last
        }]
    )
    .contains("outside the vocabulary"));
    assert!(err(
        &mut b,
        &[RowStep {
            row: persona::backend::RowId(99),
            tokens: &[1],
            readout: Readout::Last
        }]
    )
    .contains("does not exist"));
    assert_eq!(b.row_len(row).unwrap(), B.len());
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

    let (rows, plain_cost, plain_prefill) = {
        let v = pollster::block_on(EngineViews::new(&mut b, &specs, &[])).unwrap();
        let rows: Vec<Vec<f32>> = (0..3).map(|i| v.next(i).to_vec()).collect();
        (rows, v.cost(), v.prefill)
    };
    let mut v = pollster::block_on(EngineViews::new(&mut b, &specs, &reads)).unwrap();
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
