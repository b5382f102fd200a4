//! Block dot-product kernels, chosen once per process: AVX2 on x86-64 when
//! the CPU has it (runtime check), simd128 in wasm builds, scalar otherwise.
//!
//! The SIMD part computes exact integer sums per 32-block; the scaling and
//! accumulation in f32 is shared code with one fixed order. So every kernel
//! gives bit-identical results, and the browser's greedy tokens equal the
//! command line's.

pub mod scalar;
#[cfg(target_arch = "wasm32")]
pub mod simd128;
#[cfg(target_arch = "x86_64")]
pub mod x86;

use std::sync::OnceLock;

/// Integer dot product of each Q4_1 block's nibbles (16 bytes) with the
/// matching 32 activation bytes: `out[b] = Σ_j q_w[j]·q_a[j]`.
pub type BlockSumsQ41 = fn(wq: &[u8], aq: &[i8], out: &mut [i32]);
/// Integer dot product of each Q8_0 block (32 bytes) with 32 activation bytes.
pub type BlockSumsQ80 = fn(wq: &[i8], aq: &[i8], out: &mut [i32]);

#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    pub q4_1: BlockSumsQ41,
    pub q8_0: BlockSumsQ80,
}

pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    q4_1: scalar::block_sums_q4_1,
    q8_0: scalar::block_sums_q8_0,
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

/// Blocks handled per kernel call (a stack buffer of integer sums).
const CHUNK: usize = 64;

/// `Σ_b (wd_b·ad_b)·isum_b + wm_b·as_b`: one Q4_1 row against one Q8_1 vector.
pub fn dot_q4_1(
    k: &Kernels,
    wd: &[f32],
    wm: &[f32],
    wq: &[u8],
    ad: &[f32],
    as_: &[f32],
    aq: &[i8],
) -> f32 {
    let mut isum = [0i32; CHUNK];
    let mut sum = 0f32;
    for b0 in (0..wd.len()).step_by(CHUNK) {
        let n = CHUNK.min(wd.len() - b0);
        (k.q4_1)(
            &wq[b0 * 16..(b0 + n) * 16],
            &aq[b0 * 32..(b0 + n) * 32],
            &mut isum[..n],
        );
        for b in 0..n {
            let i = b0 + b;
            sum += wd[i] * ad[i] * isum[b] as f32 + wm[i] * as_[i];
        }
    }
    sum
}

/// `Σ_b (wd_b·ad_b)·isum_b`: one Q8_0 row against one Q8_0 vector.
pub fn dot_q8_0(k: &Kernels, wd: &[f32], wq: &[i8], ad: &[f32], aq: &[i8]) -> f32 {
    let mut isum = [0i32; CHUNK];
    let mut sum = 0f32;
    for b0 in (0..wd.len()).step_by(CHUNK) {
        let n = CHUNK.min(wd.len() - b0);
        (k.q8_0)(
            &wq[b0 * 32..(b0 + n) * 32],
            &aq[b0 * 32..(b0 + n) * 32],
            &mut isum[..n],
        );
        for b in 0..n {
            sum += wd[b0 + b] * ad[b0 + b] * isum[b] as f32;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn active_kernels_equal_scalar_exactly() {
        let k = active();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for nb in [1usize, 2, 18, 48, 130] {
            let wq4: Vec<u8> = (0..nb * 16).map(|_| rng.random()).collect();
            let wq8: Vec<i8> = (0..nb * 32).map(|_| rng.random()).collect();
            let aq: Vec<i8> = (0..nb * 32).map(|_| rng.random_range(-127..=127)).collect();
            let (mut want, mut got) = (vec![0; nb], vec![0; nb]);
            scalar::block_sums_q4_1(&wq4, &aq, &mut want);
            (k.q4_1)(&wq4, &aq, &mut got);
            assert_eq!(want, got, "{} q4_1 nb={nb}", k.name);
            scalar::block_sums_q8_0(&wq8, &aq, &mut want);
            (k.q8_0)(&wq8, &aq, &mut got);
            assert_eq!(want, got, "{} q8_0 nb={nb}", k.name);
        }
    }

    #[test]
    fn q4_1_dot_equals_dequantized_dot() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let nb = 70;
        let wd: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
        let wm: Vec<f32> = (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect();
        let wq: Vec<u8> = (0..nb * 16).map(|_| rng.random()).collect();
        let ad: Vec<f32> = (0..nb).map(|_| rng.random_range(0.0..0.1)).collect();
        let aq: Vec<i8> = (0..nb * 32).map(|_| rng.random_range(-127..=127)).collect();
        let as_: Vec<f32> = (0..nb)
            .map(|b| {
                ad[b]
                    * aq[b * 32..b * 32 + 32]
                        .iter()
                        .map(|&q| q as f32)
                        .sum::<f32>()
            })
            .collect();
        let mut want = 0f64;
        for b in 0..nb {
            for j in 0..16 {
                let lo = (wd[b] * (wq[b * 16 + j] & 15) as f32 + wm[b]) as f64;
                let hi = (wd[b] * (wq[b * 16 + j] >> 4) as f32 + wm[b]) as f64;
                want += lo * (ad[b] * aq[b * 32 + j] as f32) as f64;
                want += hi * (ad[b] * aq[b * 32 + j + 16] as f32) as f64;
            }
        }
        let got = dot_q4_1(active(), &wd, &wm, &wq, &ad, &as_, &aq) as f64;
        assert!(
            (want - got).abs() < 1e-4 * want.abs().max(1.0),
            "{want} vs {got}"
        );
    }
}
