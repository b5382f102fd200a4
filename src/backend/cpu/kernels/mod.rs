//! Row-times-vectors kernels for quantized weights and f32 activations,
//! chosen once per process: AVX2 on x86-64 when the CPU has it (runtime
//! check), simd128 in wasm builds, scalar otherwise.
//!
//! Weights stay quantized in memory (Q4_1: 4.5 bits, Q8_0: 8.5 bits) and are
//! widened to f32 in registers; activations stay f32, so the quantized path
//! computes the dequantized model's math (no 8-bit activation rounding).
//! Every kernel follows one canonical order of float operations:
//!
//! ```text
//! for each block b, lane j in 0..8:
//!     s_j = q[j]·a[j] + q[8+j]·a[8+j] + q[16+j]·a[16+j] + q[24+j]·a[24+j]   (left to right)
//!     acc_j = acc_j + d_b · s_j
//! dot = ((acc_0+acc_1)+(acc_2+acc_3)) + ((acc_4+acc_5)+(acc_6+acc_7))
//! ```
//!
//! with separate multiplies and adds (no FMA), so results are bit-identical on
//! every target and the browser's greedy tokens equal the command line's.
//! Q4_1's minimum term `Σ_b m_b·Σ_e a_e` is added by the caller.
//!
//! A second family, the integer dots (`*_i8`), takes activations quantized to
//! 8 bits per 32-block (`scalar::quantize_q8`, llama.cpp's Q8 scheme: the
//! logits move by a few hundredths of a nat, as llama.cpp's do) and sums
//! weight × activation products exactly in integers. Its canonical order
//! (block `b` in lane `b % 8`, one integer sum per block):
//!
//! ```text
//! for each block b, j = b mod 8:
//!     s_b   = Σ_e q[e]·a[e]                    (i32, exact: any summation order)
//!     acc_j = acc_j + (d_b · ad_b) · s_b
//!     acc_j = acc_j + m_b · as_b               (Q4_1's minimum term)
//! dot = ((acc_0+acc_1)+(acc_2+acc_3)) + ((acc_4+acc_5)+(acc_6+acc_7))
//! ```
//!
//! so its results too are bit-identical on every target. The vector kernels
//! take eight blocks at a time: eight blocks' integer dots, summed across
//! their lanes into one vector (`s_b` in lane `b % 8`), cost one convert and
//! a few float operations per eight blocks, not per block; a last group of
//! fewer than eight blocks is padded with empty ones (adding +0 leaves every
//! lane as it was). AVX-512 VNNI (`vpdpbusd`, on 256-bit vectors) does a
//! block's 32 byte products in one instruction where the CPU has it.
//!
//! The fastest variant there, `avx512vnni-rows8` (`x86_rows8`), takes eight
//! weight rows at once from matrices repacked row-interleaved at load
//! (`cpu::interleave`): one instruction adds 4 products of each of eight
//! rows, so a block's sum lands in lane `i` for row `i` without horizontal
//! sums, and eight float accumulators (one per `b % 8`) keep the canonical
//! order per row: the same bits as every other integer-dot kernel. The
//! page's builds have the same on the same layout (`wasm_rows8`:
//! `i16x8.relaxed_dot_i8x16_i7x16_s` or `i32x4.dot_i16x8_s` per 4 rows).

pub mod scalar;
#[cfg(target_arch = "wasm32")]
pub mod simd128;
mod table;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_rows8;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "x86_64")]
mod x86_rows8;

pub use table::{combine, Acts8, Kernels, RowQ41, RowQ41I8, RowQ80, RowQ80I8, Rows8, Rows8Args};

use std::sync::OnceLock;

pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    q4_1: scalar::row_q4_1,
    q8_0: scalar::row_q8_0,
    q4_1_i8: scalar::row_q4_1_i8,
    q8_0_i8: scalar::row_q8_0_i8,
    rows8: None,
};

/// The fastest kernels this machine runs.
pub fn active() -> &'static Kernels {
    static ACTIVE: OnceLock<Kernels> = OnceLock::new();
    ACTIVE.get_or_init(detect)
}

fn detect() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        // `PERSONA_CPU_KERNELS=avx2|avx512vnni|avx512vnni-rows8|scalar`: a slower variant
        // this CPU also runs, to measure one against another (benchmarks).
        let mut variants = x86::variants();
        variants.insert(0, SCALAR);
        if let Ok(name) = std::env::var("PERSONA_CPU_KERNELS") {
            match variants.iter().find(|k| k.name == name) {
                Some(k) => return *k,
                None => eprintln!(
                    "PERSONA_CPU_KERNELS={name}: not a kernel variant this CPU runs ({}); using the fastest",
                    variants.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                ),
            }
        }
        if let Some(k) = x86::detect() {
            return k;
        }
    }
    #[cfg(target_arch = "wasm32")]
    if let Some(k) = simd128::detect() {
        return k;
    }
    SCALAR
}

/// Every variant this machine runs (the scalar reference first).
#[cfg(test)]
pub(crate) fn variants() -> Vec<Kernels> {
    let mut out = vec![SCALAR];
    #[cfg(target_arch = "x86_64")]
    out.extend(x86::variants());
    #[cfg(target_arch = "wasm32")]
    out.extend(simd128::detect());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn every_kernel_variant_equals_scalar_bit_for_bit() {
        let variants = variants();
        if std::env::var_os("PERSONA_CPU_KERNELS").is_none() {
            assert_eq!(variants.last().unwrap().name, active().name);
        }
        for k in &variants {
            f32_kernels_equal_scalar(k);
        }
    }

    fn f32_kernels_equal_scalar(k: &Kernels) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for (nb, n) in [(1usize, 1usize), (2, 3), (18, 4), (48, 5), (130, 9)] {
            let d: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
            let q4: Vec<u8> = (0..nb * 16).map(|_| rng.random()).collect();
            let q8: Vec<i8> = (0..nb * 32).map(|_| rng.random()).collect();
            let stride = nb * 32 + 3;
            let acts: Vec<f32> = (0..n * stride)
                .map(|_| rng.random_range(-4.0..4.0))
                .collect();
            let (mut want, mut got) = (vec![0f32; n], vec![0f32; n]);
            scalar::row_q4_1(&d, &q4, &acts, stride, &mut want);
            (k.q4_1)(&d, &q4, &acts, stride, &mut got);
            assert_eq!(want, got, "{} q4_1 nb={nb} n={n}", k.name);
            scalar::row_q8_0(&d, &q8, &acts, stride, &mut want);
            (k.q8_0)(&d, &q8, &acts, stride, &mut got);
            assert_eq!(want, got, "{} q8_0 nb={nb} n={n}", k.name);
        }
    }

    /// Random 8-bit activation blocks, extremes included (±127, and -128
    /// weights, which a file may hold).
    #[test]
    fn every_integer_dot_variant_equals_scalar_bit_for_bit() {
        for k in &variants() {
            integer_dot_kernels_equal_scalar(k);
        }
    }

    fn integer_dot_kernels_equal_scalar(k: &Kernels) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (nb, n) in [
            (1usize, 1usize),
            (2, 3),
            (8, 2),
            (9, 1),
            (16, 6),
            (18, 4),
            (48, 5),
            (130, 9),
        ] {
            let d: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
            let q4: Vec<u8> = (0..nb * 16).map(|_| rng.random()).collect();
            let mut q8: Vec<i8> = (0..nb * 32).map(|_| rng.random()).collect();
            q8[0] = -128;
            let ad: Vec<f32> = (0..n * nb).map(|_| rng.random_range(0.0..0.05)).collect();
            let m: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
            let sums: Vec<f32> = (0..n * nb).map(|_| rng.random_range(-2.0..2.0)).collect();
            let mut aq: Vec<i8> = (0..n * nb * 32)
                .map(|_| rng.random_range(-127..=127))
                .collect();
            aq[0] = -127;
            aq[1] = 127;
            let acts = Acts8 {
                d: &ad,
                s: &sums,
                q: &aq,
                qsum: &[],
            };
            let (mut want, mut got) = (vec![0f32; n], vec![0f32; n]);
            scalar::row_q4_1_i8(&d, &m, &q4, acts, &mut want);
            (k.q4_1_i8)(&d, &m, &q4, acts, &mut got);
            assert_eq!(want, got, "{} q4_1_i8 nb={nb} n={n}", k.name);
            scalar::row_q8_0_i8(&d, &q8, acts, &mut want);
            (k.q8_0_i8)(&d, &q8, acts, &mut got);
            assert_eq!(want, got, "{} q8_0_i8 nb={nb} n={n}", k.name);
        }
    }

    /// The integer dot of one block equals the exact product of the
    /// dequantized weights with the dequantized 8-bit activations.
    #[test]
    fn integer_dot_equals_dequantized_dot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let nb = 40;
        let d: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
        let q8: Vec<i8> = (0..nb * 32).map(|_| rng.random()).collect();
        let x: Vec<f32> = (0..nb * 32).map(|_| rng.random_range(-3.0..3.0)).collect();
        let (mut ad, mut s, mut aq) = (vec![0f32; nb], vec![0f32; nb], vec![0i8; nb * 32]);
        scalar::quantize_q8(&x, &mut ad, &mut s, &mut aq);
        let mut want = 0f64;
        for e in 0..nb * 32 {
            let (b, w) = (e / 32, q8[e] as f64 * d[e / 32] as f64);
            want += w * aq[e] as f64 * ad[b] as f64;
        }
        let mut got = [0f32];
        let acts = Acts8 {
            d: &ad,
            s: &s,
            q: &aq,
            qsum: &[],
        };
        (active().q8_0_i8)(&d, &q8, acts, &mut got);
        assert!((want - got[0] as f64).abs() < 1e-5 * want.abs().max(1.0));
    }

    /// Q4_1 through the integer dots, minimum term included, equals the
    /// dequantized row times the dequantized 8-bit activations.
    #[test]
    fn q4_1_integer_dot_equals_dequantized_dot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let nb = 18;
        let d: Vec<f32> = (0..nb).map(|_| rng.random_range(0.0..0.1)).collect();
        let m: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.5..0.0)).collect();
        let qs: Vec<u8> = (0..nb * 16).map(|_| rng.random()).collect();
        let x: Vec<f32> = (0..nb * 32).map(|_| rng.random_range(-3.0..3.0)).collect();
        let (mut ad, mut s, mut aq) = (vec![0f32; nb], vec![0f32; nb], vec![0i8; nb * 32]);
        scalar::quantize_q8(&x, &mut ad, &mut s, &mut aq);
        let mut want = 0f64;
        for (e, &a) in aq.iter().enumerate() {
            let (b, j) = (e / 32, e % 32);
            let byte = qs[b * 16 + j % 16];
            let q = if j < 16 { byte & 15 } else { byte >> 4 };
            let w = d[b] as f64 * q as f64 + m[b] as f64;
            want += w * a as f64 * ad[b] as f64;
        }
        let mut got = [0f32];
        let acts = Acts8 {
            d: &ad,
            s: &s,
            q: &aq,
            qsum: &[],
        };
        (active().q4_1_i8)(&d, &m, &qs, acts, &mut got);
        assert!((want - got[0] as f64).abs() < 1e-5 * want.abs().max(1.0));
    }

    /// 8-bit activations: within half a step of the input, the block's
    /// largest value at ±127, the sum term consistent, zeros kept zero.
    #[test]
    fn quantize_q8_rounds_to_the_block_scale() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut x: Vec<f32> = (0..96).map(|_| rng.random_range(-2.0..2.0)).collect();
        x[40] = -7.5;
        x[64..96].fill(0.0);
        let (mut d, mut s, mut q) = (vec![0f32; 3], vec![0f32; 3], vec![0i8; 96]);
        scalar::quantize_q8(&x, &mut d, &mut s, &mut q);
        assert_eq!(q[40], -127);
        assert!((d[1] - 7.5 / 127.0).abs() < 1e-7);
        for (e, (&xe, &qe)) in x.iter().zip(&q).enumerate() {
            assert!(
                (xe - d[e / 32] * qe as f32).abs() <= d[e / 32] * 0.5001,
                "element {e}"
            );
        }
        let sum: i32 = q[32..64].iter().map(|&v| v as i32).sum();
        assert_eq!(s[1], d[1] * sum as f32);
        assert_eq!((d[2], s[2]), (0.0, 0.0));
        // Ties go to even, as `round_ties_even` says.
        let mut ties = vec![0f32; 32];
        ties[..5].copy_from_slice(&[127.0, 0.5, 1.5, -2.5, 2.4999]);
        let (mut td, mut ts, mut tq) = ([0f32], [0f32], [0i8; 32]);
        scalar::quantize_q8(&ties, &mut td, &mut ts, &mut tq);
        assert_eq!(&tq[..5], &[127, 0, 2, -2, 2]);
        assert!(q[64..].iter().all(|&v| v == 0));
    }

    #[test]
    fn q4_1_row_equals_dequantized_dot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let nb = 70;
        let d: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
        let qs: Vec<u8> = (0..nb * 16).map(|_| rng.random()).collect();
        let a: Vec<f32> = (0..nb * 32).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut want = 0f64;
        for b in 0..nb {
            for j in 0..16 {
                want += (d[b] * (qs[b * 16 + j] & 15) as f32) as f64 * a[b * 32 + j] as f64;
                want += (d[b] * (qs[b * 16 + j] >> 4) as f32) as f64 * a[b * 32 + j + 16] as f64;
            }
        }
        let mut got = [0f32];
        (active().q4_1)(&d, &qs, &a, nb * 32, &mut got);
        assert!(
            (want - got[0] as f64).abs() < 1e-5 * want.abs().max(1.0),
            "{want} vs {}",
            got[0]
        );
    }
}
