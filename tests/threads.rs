//! Threads natively (issue 13): the CPU backend's matrix products split
//! their weight rows across threads, and the logits stay bit-identical for
//! any thread count — a prefill of two rows of different lengths (one long
//! enough for attention to run on the threads too, in the prefill and in
//! the decode steps after it) and a few decode steps, on 1, 2 and 3
//! threads, every log-prob equal; and on the
//! spin pool the page's threaded worker runs (here with std threads); both
//! kernel families (f32 activations, 8-bit integer dots).

use persona::backend::cpu::{spin_pool, threads, CpuBackend, WeightMode};
use persona::backend::{Backend, LogProbs, Readout, RowStep};
use persona::model::{default_model_path, GgufFile, LlamaConfig};

fn run(backend: &mut CpuBackend) -> Vec<Vec<f32>> {
    let a = backend.new_row().unwrap();
    let b = backend.new_row().unwrap();
    // Long enough that attention shares its tasks out: (position, KV head)
    // in the prefill, (position, query head) in the decode steps after it.
    let prompt_a: Vec<u32> = (0..180).map(|i| 100 + 37 * i).collect();
    let prompt_b: Vec<u32> = (0..9).map(|i| 900 + 11 * i).collect();
    let mut out: Vec<Vec<f32>> = Vec::new();
    let mut keep = |lp: Vec<LogProbs>| {
        for l in lp {
            out.push(l.last().to_vec());
        }
    };
    keep(
        pollster::block_on(backend.forward(&[
            RowStep {
                row: a,
                tokens: &prompt_a,
                readout: Readout::Last,
            },
            RowStep {
                row: b,
                tokens: &prompt_b,
                readout: Readout::Last,
            },
        ]))
        .unwrap(),
    );
    for step in 0..4u32 {
        let (ta, tb) = ([300 + step], [1200 + step]);
        keep(
            pollster::block_on(backend.forward(&[
                RowStep {
                    row: a,
                    tokens: &ta,
                    readout: Readout::Last,
                },
                RowStep {
                    row: b,
                    tokens: &tb,
                    readout: Readout::Last,
                },
            ]))
            .unwrap(),
        );
    }
    backend.free_row(a);
    backend.free_row(b);
    out
}

#[test]
fn logits_are_bit_identical_on_one_two_and_three_threads() {
    let file = GgufFile::open(&default_model_path()).unwrap();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    // Both kernel families: f32 activations, and 8-bit integer dots.
    let mut int8 = CpuBackend::new(&file, &config, WeightMode::Int8).unwrap();
    let mut backend = CpuBackend::new(&file, &config, WeightMode::Quantized).unwrap();
    let mut one = Vec::new();
    for backend in [&mut int8, &mut backend] {
        backend.set_threads(1).unwrap();
        one = run(backend);
        for n in [2, 3] {
            backend.set_threads(n).unwrap();
            assert_eq!(backend.threads(), n);
            let many = run(backend);
            assert_eq!(one.len(), many.len());
            for (i, (x, y)) in one.iter().zip(&many).enumerate() {
                assert!(
                    x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
                    "{:?}, {n} threads: read {i} differs",
                    backend.weight_mode()
                );
            }
        }
    }
    assert!(backend.set_threads(0).is_err(), "0 threads is refused");

    // The page's pool: helpers spinning between products, one range each.
    assert!(threads::install_spin_pool(spin_pool::start_native(3)));
    backend.set_threads(3).unwrap();
    assert_eq!(backend.thread_pool_kind(), "spin pool");
    let spun = run(&mut backend);
    for (i, (x, y)) in one.iter().zip(&spun).enumerate() {
        assert!(
            x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "spin pool: read {i} differs"
        );
    }
    backend.set_threads(2).unwrap();
    assert_eq!(
        backend.thread_pool_kind(),
        "rayon",
        "other sizes stay on rayon"
    );
}
