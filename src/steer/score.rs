//! MPG's aggregated density ratio (MPG paper §3.2-3.3, ALGORITHMS.md step 3):
//! `Score = Σ_i α_i · exp(L_i)` with signed α, computed stably in the log
//! domain by shifting with `max_i L_i`; `S = log max(0, Score)`.

use super::mutation::{active, Mutation};

/// `S = log max(0, Σ_i α_i exp(L_i))`, −∞ when the score is not positive.
pub(crate) fn log_score(alpha: &[f64], log_ratio: &[f64]) -> f64 {
    let shift = alpha
        .iter()
        .zip(log_ratio)
        .filter(|(a, _)| **a != 0.0)
        .map(|(_, l)| *l)
        .fold(f64::NEG_INFINITY, f64::max);
    if !shift.is_finite() {
        return f64::NEG_INFINITY;
    }
    let sum: f64 = alpha
        .iter()
        .zip(log_ratio)
        .map(|(a, l)| a * (l - shift).exp())
        .sum();
    if sum > 0.0 {
        shift + sum.ln()
    } else if sum < 0.0 && active(Mutation::AbsScore) {
        shift + (-sum).ln()
    } else {
        f64::NEG_INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_direct_sum_and_survives_large_ratios() {
        let (a, l) = ([0.7, -0.3, 0.6], [0.2, -1.0, 0.5]);
        let direct: f64 = a
            .iter()
            .zip(&l)
            .map(|(a, l): (&f64, &f64)| a * l.exp())
            .sum();
        assert!((log_score(&a, &l) - direct.ln()).abs() < 1e-12);
        // exp(800) overflows; the shifted form does not.
        assert!((log_score(&[1.0, 1.0], &[800.0, 800.0]) - (800.0 + 2f64.ln())).abs() < 1e-9);
    }

    #[test]
    fn negative_total_is_minus_infinity() {
        assert_eq!(log_score(&[1.0, -2.0], &[0.0, 0.0]), f64::NEG_INFINITY);
        assert_eq!(log_score(&[0.0], &[3.0]), f64::NEG_INFINITY);
    }
}
