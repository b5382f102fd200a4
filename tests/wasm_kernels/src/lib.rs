//! The engine's CPU kernels compiled for wasm32 (simd128, and again with
//! relaxed-simd) and checked against the scalar reference bit for bit, in a
//! real wasm engine: the native unit tests cannot run wasm instructions,
//! and relaxed-simd leaves some results to the engine, so the page's
//! kernels (and attention's dot products) are held to the same bits where
//! they run. `check` runs every
//! comparison and returns how many failed; `report` says which.
//! Run by `tests/wasm_kernels/run.sh` (part of the test command).

#![allow(dead_code, unused_imports)]

#[macro_use]
#[path = "../../../src/avx2_dispatch.rs"]
mod avx2_dispatch;
#[path = "../../../src/backend/cpu/attention_dot.rs"]
mod attention_dot;
#[path = "../../../src/backend/cpu/interleave.rs"]
mod interleave;
#[path = "../../../src/backend/cpu/kernels/mod.rs"]
mod kernels;

use std::sync::Mutex;

use attention_dot::{Dot, KvView, PlainDot, Simd128Dot};
use kernels::{scalar, Acts8, Kernels};

/// A small deterministic generator (no dependencies in this crate).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }

    fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() as f32 / (1u64 << 31) as f32)
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// −127..=127, as 8-bit activations are.
    fn act(&mut self) -> i8 {
        ((self.next() % 255) as i32 - 127) as i8
    }
}

/// (blocks per row, vectors): one and several blocks, groups of eight and
/// not, one to nine vectors (the relaxed rows take four at a time).
const CASES: [(usize, usize); 8] = [
    (1, 1),
    (2, 3),
    (8, 2),
    (9, 1),
    (16, 6),
    (18, 4),
    (48, 5),
    (130, 9),
];

/// The failures so far, one line each.
static REPORT: Mutex<String> = Mutex::new(String::new());

fn fail(msg: String) {
    let mut report = REPORT.lock().unwrap();
    report.push_str(&msg);
    report.push('\n');
}

/// Compares `got` with `want` bit for bit; one failure line if they differ.
fn same(what: &str, want: &[f32], got: &[f32]) -> u32 {
    let differs = want
        .iter()
        .zip(got)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    match differs {
        Some(i) => {
            fail(format!(
                "{what}: element {i}: {} against {}",
                got[i], want[i]
            ));
            1
        }
        None => 0,
    }
}

/// Random 8-bit activation vectors with their scales, sums and integer sums.
struct Acts {
    d: Vec<f32>,
    s: Vec<f32>,
    q: Vec<i8>,
    qsum: Vec<i32>,
}

impl Acts {
    fn new(rng: &mut Rng, nb: usize, n: usize) -> Self {
        let mut q: Vec<i8> = (0..n * nb * 32).map(|_| rng.act()).collect();
        q[0] = -127;
        q[1] = 127;
        let qsum = q
            .chunks_exact(32)
            .map(|b| b.iter().map(|&v| v as i32).sum())
            .collect();
        Acts {
            d: (0..n * nb).map(|_| rng.f32(0.0, 0.05)).collect(),
            s: (0..n * nb).map(|_| rng.f32(-2.0, 2.0)).collect(),
            q,
            qsum,
        }
    }

    fn view(&self) -> Acts8<'_> {
        Acts8 {
            d: &self.d,
            s: &self.s,
            q: &self.q,
            qsum: &self.qsum,
        }
    }
}

/// The per-row kernels of both families against the scalar ones.
fn row_kernels(k: &Kernels, rng: &mut Rng) -> u32 {
    let mut failed = 0;
    for (nb, n) in CASES {
        let d: Vec<f32> = (0..nb).map(|_| rng.f32(-0.1, 0.1)).collect();
        let m: Vec<f32> = (0..nb).map(|_| rng.f32(-0.1, 0.1)).collect();
        let q4: Vec<u8> = (0..nb * 16).map(|_| rng.byte()).collect();
        let mut q8: Vec<i8> = (0..nb * 32).map(|_| rng.byte() as i8).collect();
        q8[0] = -128;
        let stride = nb * 32 + 3;
        let x: Vec<f32> = (0..n * stride).map(|_| rng.f32(-4.0, 4.0)).collect();
        let acts = Acts::new(rng, nb, n);
        let (mut want, mut got) = (vec![0f32; n], vec![0f32; n]);
        let case = |kernel: &str| format!("{} {kernel} nb={nb} n={n}", k.name);

        scalar::row_q4_1(&d, &q4, &x, stride, &mut want);
        (k.q4_1)(&d, &q4, &x, stride, &mut got);
        failed += same(&case("q4_1"), &want, &got);
        scalar::row_q8_0(&d, &q8, &x, stride, &mut want);
        (k.q8_0)(&d, &q8, &x, stride, &mut got);
        failed += same(&case("q8_0"), &want, &got);
        scalar::row_q4_1_i8(&d, &m, &q4, acts.view(), &mut want);
        (k.q4_1_i8)(&d, &m, &q4, acts.view(), &mut got);
        failed += same(&case("q4_1_i8"), &want, &got);
        scalar::row_q8_0_i8(&d, &q8, acts.view(), &mut want);
        (k.q8_0_i8)(&d, &q8, acts.view(), &mut got);
        failed += same(&case("q8_0_i8"), &want, &got);
    }
    failed
}

/// The eight-row kernels, on matrices repacked as the loader does, against
/// the scalar row kernels on the rows as the file has them.
fn rows8_kernels(k: &Kernels, rng: &mut Rng) -> u32 {
    let Some(rows8) = k.rows8 else { return 0 };
    let mut failed = 0;
    let groups = 2;
    let rows = groups * interleave::ROWS;
    for (nb, n) in CASES {
        let d: Vec<f32> = (0..rows * nb).map(|_| rng.f32(-0.1, 0.1)).collect();
        let m: Vec<f32> = (0..rows * nb).map(|_| rng.f32(-0.1, 0.1)).collect();
        let q4: Vec<u8> = (0..rows * nb * 16).map(|_| rng.byte()).collect();
        let mut q8: Vec<i8> = (0..rows * nb * 32).map(|_| rng.byte() as i8).collect();
        q8[0] = -128;
        q8[33] = 127;
        let acts = Acts::new(rng, nb, n);
        let (di, mi) = (
            interleave::per_block(nb, rows, &d),
            interleave::per_block(nb, rows, &m),
        );
        let q4i = interleave::q4_1_bytes(nb, rows, &q4);
        let q8i: Vec<u8> = interleave::q8_0_bytes(nb, rows, &q8)
            .into_iter()
            .map(|v| v as u8)
            .collect();
        let mut want = vec![0f32; rows * n];
        let mut got = vec![0f32; rows * n];
        let scales = |g: usize| g * nb * 8..(g + 1) * nb * 8;

        for (r, want) in want.chunks_exact_mut(n).enumerate() {
            let (d, m) = (&d[r * nb..(r + 1) * nb], &m[r * nb..(r + 1) * nb]);
            scalar::row_q4_1_i8(d, m, &q4[r * nb * 16..(r + 1) * nb * 16], acts.view(), want);
        }
        for (g, got) in got.chunks_exact_mut(8 * n).enumerate() {
            let qs = &q4i[g * nb * 128..(g + 1) * nb * 128];
            (rows8.q4_1)(&di[scales(g)], &mi[scales(g)], qs, acts.view(), got);
        }
        failed += same(&format!("{} rows8 q4_1 nb={nb} n={n}", k.name), &want, &got);

        for (r, want) in want.chunks_exact_mut(n).enumerate() {
            let d = &d[r * nb..(r + 1) * nb];
            scalar::row_q8_0_i8(d, &q8[r * nb * 32..(r + 1) * nb * 32], acts.view(), want);
        }
        for (g, got) in got.chunks_exact_mut(8 * n).enumerate() {
            let qs = &q8i[g * nb * 256..(g + 1) * nb * 256];
            (rows8.q8_0)(&di[scales(g)], qs, acts.view(), got);
        }
        failed += same(&format!("{} rows8 q8_0 nb={nb} n={n}", k.name), &want, &got);
    }
    failed
}

/// Attention's simd128 scores and weighted sums against the plain ones,
/// heads of 64 (the register path) and 32, spans around its four keys at
/// a time.
fn attention(rng: &mut Rng) -> u32 {
    let mut failed = 0;
    for hd in [64usize, 32] {
        for span in [1usize, 3, 4, 5, 8, 33, 130] {
            let stride = 3 * hd;
            let data: Vec<f32> = (0..span * stride).map(|_| rng.f32(-2.0, 2.0)).collect();
            let kv = KvView {
                data: &data,
                stride,
                offset: hd,
                span,
            };
            let q: Vec<f32> = (0..hd).map(|_| rng.f32(-1.0, 1.0)).collect();
            let (mut want, mut got) = (vec![0f32; span], vec![0f32; span]);
            PlainDot::scores(&q, &kv, 0.125, &mut want);
            Simd128Dot::scores(&q, &kv, 0.125, &mut got);
            failed += same(
                &format!("attention scores hd={hd} span={span}"),
                &want,
                &got,
            );
            let p: Vec<f32> = (0..span).map(|_| rng.f32(0.0, 1.0)).collect();
            let (mut want, mut got) = (vec![0f32; hd], vec![0f32; hd]);
            PlainDot::weighted_sum(&p, &kv, &mut want);
            Simd128Dot::weighted_sum(&p, &kv, &mut got);
            failed += same(
                &format!("attention weighted sum hd={hd} span={span}"),
                &want,
                &got,
            );
        }
    }
    failed
}

/// Every comparison for this build's kernels; the number that failed.
#[no_mangle]
pub extern "C" fn check() -> u32 {
    let k = kernels::active();
    let mut rng = Rng(3);
    row_kernels(k, &mut rng) + rows8_kernels(k, &mut rng) + attention(&mut rng)
}

/// Whether this build's kernels have the eight-row form (so `check` held
/// it to the reference too).
#[no_mangle]
pub extern "C" fn has_rows8() -> u32 {
    kernels::active().rows8.is_some() as u32
}

/// The variant's name and the failures, as UTF-8 at `report_ptr()`
/// (valid until the next call into the module).
#[no_mangle]
pub extern "C" fn report_ptr() -> *const u8 {
    let mut report = REPORT.lock().unwrap();
    if !report.starts_with("kernels: ") {
        report.insert_str(0, &format!("kernels: {}\n", kernels::active().name));
    }
    report.as_ptr()
}

#[no_mangle]
pub extern "C" fn report_len() -> usize {
    REPORT.lock().unwrap().len()
}
