//! Distribution maths over a vocabulary of log-probs, the ground floor
//! every layer shares (backend read-outs and mixes, the engine's sampler,
//! the steering policies): the most likely token and the best `k` (ties to
//! the lower id, as the GPU's top-k kernel), log-sum-exp and normalisation,
//! log-softmax, and the tempered mass a nucleus draw compares with.
//! Imports nothing from the crate; exp and ln are `libm`'s or [`exp_f32`]
//! (IEEE operations only) on every target, so the browser and the command
//! line compute the same bits.

/// Index of the largest value (the first one on ties).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

/// The `k` largest values of `row` with their indices, largest first, ties
/// broken toward the lower index (the order the GPU's top-k kernel uses).
pub fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut idx: Vec<u32> = (0..row.len() as u32).collect();
    let by = |a: &u32, b: &u32| row[*b as usize].total_cmp(&row[*a as usize]).then(a.cmp(b));
    let k = k.min(row.len());
    if k < idx.len() {
        idx.select_nth_unstable_by(k, by);
        idx.truncate(k);
    }
    idx.sort_by(by);
    idx.into_iter().map(|i| (i, row[i as usize])).collect()
}

/// The `n` most likely ids under an f64 `logp`, best first (ties to the lower id).
pub fn top_ids(logp: &[f64], n: usize) -> Vec<u32> {
    let mut idx: Vec<u32> = (0..logp.len() as u32).collect();
    let by = |a: &u32, b: &u32| {
        logp[*b as usize]
            .total_cmp(&logp[*a as usize])
            .then(a.cmp(b))
    };
    let n = n.min(idx.len());
    idx.select_nth_unstable_by(n.saturating_sub(1), by);
    idx.truncate(n);
    idx.sort_by(by);
    idx
}

/// `log Σ exp(x)`, shifted by the maximum.
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + libm::log(x.iter().map(|v| libm::exp(v - max)).sum::<f64>())
}

/// `x - logsumexp(x)`, in f64, in place.
pub fn normalise(x: &mut [f64]) {
    let lse = log_sum_exp(x);
    x.iter_mut().for_each(|v| *v -= lse);
}

avx2_dispatch! {
    /// Log-softmax of one f32 vector, in place: `e^(x − max)` by [`exp_f32`],
    /// summed in f64 in eight lanes (element `i` in lane `i % 8`, combined
    /// pairwise), so it vectorizes and is the same on every target.
    pub fn log_softmax(x: &mut [f32]) {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut lanes = [0f64; 8];
        let chunks = x.chunks_exact(8);
        let tail = chunks.remainder();
        for c in chunks {
            for j in 0..8 {
                lanes[j] += exp_f32(c[j] - max) as f64;
            }
        }
        for (j, &v) in tail.iter().enumerate() {
            lanes[j] += exp_f32(v - max) as f64;
        }
        let sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
            + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
        let lse = max + libm::log(sum) as f32;
        for v in x.iter_mut() {
            *v -= lse;
        }
    }
}

/// `Σ_v exp((lp_v − max lp)/T)`, summed in id order: the total a nucleus
/// draw compares its kept mass with (a GPU sums the same terms in its own order).
pub fn tempered_mass(logprobs: &[f32], temperature: f32) -> f64 {
    let max = logprobs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    logprobs
        .iter()
        .map(|&lp| tempered(lp, max, temperature))
        .sum()
}

/// One token's term of [`tempered_mass`]: `exp((lp − max)/T)`.
pub fn tempered(lp: f32, max: f32, temperature: f32) -> f64 {
    libm::exp(((lp - max) / temperature) as f64)
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n · LN2_HI` is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Inputs are clamped here: below, the result would be subnormal (as good
/// as zero for a softmax weight); above, it would overflow.
const MIN: f32 = -87.0;
const MAX: f32 = 88.0;

/// `e^x` in plain f32 arithmetic (Cody–Waite range reduction and Cephes'
/// degree-6 polynomial, separate multiplies and adds): within 2 ulp of the
/// true value, the same bits on every target (IEEE operations only, no libm
/// call), and a loop of them vectorizes — attention's softmax, SwiGLU and
/// the CPU's log-softmax take one per score, hidden unit or vocabulary
/// entry. NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(MIN, MAX);
    // n = round(x / ln 2), ties to even (|x · log2 e| < 2^22).
    const MAGIC: f32 = 12_582_912.0;
    let n = (x * LOG2E + MAGIC) - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * (r * r)
        + r
        + 1.0;
    // 2^n from its exponent bits (n in -126..=127 after the clamp).
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    /// Within 2 ulp of libm's (itself correctly rounded to < 1 ulp) over the
    /// range softmax and SwiGLU use, exact at 0, and clamped at the ends.
    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        let mut worst = 0;
        let mut x = -86.0f32;
        while x < 86.0 {
            worst = worst.max(ulps(exp_f32(x), libm::expf(x)));
            x += 0.001_37;
        }
        assert!(worst <= 2, "worst {worst} ulp");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite() && exp_f32(1000.0) > 1e38);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.0, 2.0, 2.0, 1.0]), 1);
    }

    #[test]
    fn top_k_orders_by_value_then_lower_id() {
        let row = [0.5, -1.0, 2.0, 0.5, 2.0, f32::NEG_INFINITY];
        assert_eq!(top_k(&row, 3), vec![(2, 2.0), (4, 2.0), (0, 0.5)]);
        assert_eq!(top_k(&row, 10).len(), 6);
        assert_eq!(top_k(&row, 1)[0].0, argmax(&row));
        assert_eq!(top_ids(&[0.1, 0.5, 0.5, -1.0, 0.3], 3), vec![1, 2, 4]);
    }

    #[test]
    fn normalisations_sum_to_one() {
        let mut x = vec![1.0, 2.0, 3.0, -1e4];
        log_softmax(&mut x);
        let total: f32 = x.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!((x[2] - x[1] - 1.0).abs() < 1e-6);
        let mut y = vec![800.0, 800.0, 1.0];
        assert!((log_sum_exp(&y) - (800.0 + 2f64.ln())).abs() < 1e-9);
        normalise(&mut y);
        assert!((y.iter().map(|v| v.exp()).sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// A vocabulary-sized row (lanes and a tail): within f32 rounding of
    /// the log-softmax computed in f64 with libm.
    #[test]
    fn log_softmax_matches_f64_on_a_vocabulary() {
        let x: Vec<f32> = (0..49_155)
            .map(|i| ((i as f32 * 0.618).sin() * 12.0) - (i % 7) as f32)
            .collect();
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max + x.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln();
        let mut got = x.clone();
        log_softmax(&mut got);
        for (&g, &v) in got.iter().zip(&x) {
            assert!(
                (g as f64 - (v as f64 - lse)).abs() < 4e-6,
                "{g} vs {}",
                v as f64 - lse
            );
        }
    }

    #[test]
    fn tempered_mass_counts_each_token_relative_to_the_best() {
        let lp: Vec<f32> = [0.5f32, 0.25, 0.25].iter().map(|p| p.ln()).collect();
        // (p / p_max)^(1/T) at T = 0.5: 1 + 0.25 + 0.25.
        assert!((tempered_mass(&lp, 0.5) - 1.5).abs() < 1e-6);
    }
}
