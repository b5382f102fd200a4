//! Distribution maths over a vocabulary of log-probs, the ground floor
//! every layer shares (backend read-outs and mixes, the engine's sampler,
//! the steering policies): the most likely token and the best `k` (ties to
//! the lower id, as the GPU's top-k kernel), log-sum-exp and normalisation,
//! log-softmax, and the tempered mass a nucleus draw compares with.
//! Imports nothing from the crate; exp and ln are `libm`'s on every target,
//! so the browser and the command line compute the same bits.

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

/// Log-softmax of one f32 vector, in place (sum accumulated in f64).
pub fn log_softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = x.iter().map(|&v| libm::exp((v - max) as f64)).sum();
    let lse = max + libm::log(sum) as f32;
    for v in x.iter_mut() {
        *v -= lse;
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn tempered_mass_counts_each_token_relative_to_the_best() {
        let lp: Vec<f32> = [0.5f32, 0.25, 0.25].iter().map(|p| p.ln()).collect();
        // (p / p_max)^(1/T) at T = 0.5: 1 + 0.25 + 0.25.
        assert!((tempered_mass(&lp, 0.5) - 1.5).abs() < 1e-6);
    }
}
