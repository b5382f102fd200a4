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

pub mod scalar;
#[cfg(target_arch = "wasm32")]
pub mod simd128;
mod table;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use table::{combine, Kernels, RowQ41, RowQ80};

use std::sync::OnceLock;

pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    q4_1: scalar::row_q4_1,
    q8_0: scalar::row_q8_0,
};

/// The fastest kernels this machine runs.
pub fn active() -> &'static Kernels {
    static ACTIVE: OnceLock<Kernels> = OnceLock::new();
    ACTIVE.get_or_init(detect)
}

fn detect() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86::detect() {
        return k;
    }
    #[cfg(target_arch = "wasm32")]
    if let Some(k) = simd128::detect() {
        return k;
    }
    SCALAR
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn active_kernels_equal_scalar_bit_for_bit() {
        let k = active();
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
