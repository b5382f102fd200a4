//! `e^x` in plain f32 arithmetic (Cody–Waite range reduction and Cephes'
//! degree-6 polynomial, separate multiplies and adds): within 2 ulp of the
//! true value, the same bits on every target (IEEE operations only, no libm
//! call), and a loop of them vectorizes — attention's softmax and SwiGLU
//! call it for every score and every hidden unit.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n · LN2_HI` is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Inputs are clamped here: below, the result would be subnormal (as good
/// as zero for a softmax weight); above, it would overflow.
const MIN: f32 = -87.0;
const MAX: f32 = 88.0;

/// `e^x` (NaN stays NaN).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
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
    use super::exp;

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
            worst = worst.max(ulps(exp(x), libm::expf(x)));
            x += 0.001_37;
        }
        assert!(worst <= 2, "worst {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(f32::NAN).is_nan());
    }
}
