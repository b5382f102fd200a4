//! Attention's dot products (`attention.rs`): a head's scores against the
//! keys and its probability-weighted sum of the values, one canonical order
//! on every target — score `j` is the eight-lane [`dot`] of the query and
//! key `j` (element `e` in lane `e % 8`, lanes combined as the kernels do)
//! times the scale; output element `e` adds `p_j · v_j[e]` in `j` order from
//! zero. Plain loops everywhere, an AVX2 copy on x86-64 and a simd128 copy
//! in wasm, both holding a head of 64 (SmolLM2's) in registers and scoring
//! several keys at a time. Self-contained, so `tests/wasm_kernels` builds
//! it for wasm32 and holds the simd128 copy to the plain one in browsers.

/// One KV head's keys or values in a row's cache: position `j`'s vector
/// is `data[j · stride + offset..][..head_dim]`, for `j < span`.
pub(super) struct KvView<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub offset: usize,
    pub span: usize,
}

impl KvView<'_> {
    fn at(&self, j: usize, len: usize) -> &[f32] {
        &self.data[j * self.stride + self.offset..][..len]
    }
}

/// A head's scores and weighted sum, as a type so that each vectorized
/// copy of the attention inlines its own. Every implementation computes the same
/// bits: score `j` is `dot(q, k_j) · scale`; output element `e` is
/// `Σ_j p_j · v_j[e]` added in `j` order from zero.
pub(super) trait Dot {
    #[inline(always)]
    fn scores(q: &[f32], keys: &KvView<'_>, scale: f32, out: &mut [f32]) {
        for (j, s) in out.iter_mut().enumerate().take(keys.span) {
            *s = dot(q, keys.at(j, q.len())) * scale;
        }
    }

    #[inline(always)]
    fn weighted_sum(p: &[f32], values: &KvView<'_>, out: &mut [f32]) {
        let hd = out.len();
        for (j, &pj) in p.iter().enumerate().take(values.span) {
            for (o, &v) in out.iter_mut().zip(values.at(j, hd)) {
                *o += pj * v;
            }
        }
    }
}

pub(super) struct PlainDot;

impl Dot for PlainDot {}

#[cfg(target_arch = "x86_64")]
pub(super) struct Avx2Dot;

#[cfg(target_arch = "x86_64")]
impl Dot for Avx2Dot {
    #[inline(always)]
    fn scores(q: &[f32], keys: &KvView<'_>, scale: f32, out: &mut [f32]) {
        // SAFETY: only `attend_avx2`, which runs where the CPU has AVX2,
        // takes this type.
        unsafe { avx2::scores(q, keys, scale, out) }
    }

    #[inline(always)]
    fn weighted_sum(p: &[f32], values: &KvView<'_>, out: &mut [f32]) {
        // SAFETY: as above.
        unsafe { avx2::weighted_sum(p, values, out) }
    }
}

/// The AVX2 scores and weighted sums: heads of 64 (SmolLM2's) eight
/// lanes wide with the head's query or output in registers, scores eight
/// keys at a time (their lane sums transposed into one vector by the
/// canonical combination); other sizes one dot at a time.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::KvView;

    /// The head size the register paths take.
    const HD: usize = 64;

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn scores(q: &[f32], keys: &KvView<'_>, scale: f32, out: &mut [f32]) {
        if q.len() != HD {
            for (j, s) in out.iter_mut().enumerate().take(keys.span) {
                *s = dot(q, keys.at(j, q.len())) * scale;
            }
            return;
        }
        let qv: [__m256; 8] = std::array::from_fn(|c| _mm256_loadu_ps(q.as_ptr().add(8 * c)));
        let lane_sums = |j: usize| -> __m256 {
            let k = keys.at(j, HD).as_ptr();
            let mut acc = _mm256_setzero_ps();
            for (c, qc) in qv.iter().enumerate() {
                acc = _mm256_add_ps(acc, _mm256_mul_ps(*qc, _mm256_loadu_ps(k.add(8 * c))));
            }
            acc
        };
        let sv = _mm256_set1_ps(scale);
        let full = keys.span / 8 * 8;
        for j0 in (0..full).step_by(8) {
            let a: [__m256; 8] = std::array::from_fn(|i| lane_sums(j0 + i));
            // hadd pairs lanes (0,1), (2,3) of each half; twice, then the
            // halves added: ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)) per key.
            let q0123 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
            let q4567 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
            let sums = _mm256_add_ps(
                _mm256_permute2f128_ps(q0123, q4567, 0x20),
                _mm256_permute2f128_ps(q0123, q4567, 0x31),
            );
            _mm256_storeu_ps(out.as_mut_ptr().add(j0), _mm256_mul_ps(sums, sv));
        }
        for (j, s) in out.iter_mut().enumerate().take(keys.span).skip(full) {
            *s = combine(lane_sums(j)) * scale;
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn weighted_sum(p: &[f32], values: &KvView<'_>, out: &mut [f32]) {
        if out.len() != HD {
            let hd = out.len();
            for (j, &pj) in p.iter().enumerate().take(values.span) {
                for (o, &v) in out.iter_mut().zip(values.at(j, hd)) {
                    *o += pj * v;
                }
            }
            return;
        }
        let mut o: [__m256; 8] = std::array::from_fn(|c| _mm256_loadu_ps(out.as_ptr().add(8 * c)));
        for (j, &pj) in p.iter().enumerate().take(values.span) {
            let v = values.at(j, HD).as_ptr();
            let pv = _mm256_set1_ps(pj);
            for (c, oc) in o.iter_mut().enumerate() {
                *oc = _mm256_add_ps(*oc, _mm256_mul_ps(pv, _mm256_loadu_ps(v.add(8 * c))));
            }
        }
        for (c, oc) in o.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * c), *oc);
        }
    }

    /// The canonical combination of eight lanes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn combine(acc: __m256) -> f32 {
        // [a0+a1, a2+a3, a4+a5, a6+a7], then [(a0+a1)+(a2+a3), (a4+a5)+(a6+a7), ..]
        let pairs = _mm_hadd_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        let quads = _mm_hadd_ps(pairs, pairs);
        _mm_cvtss_f32(_mm_add_ss(quads, _mm_movehdup_ps(quads)))
    }

    /// [`super::dot`] in one AVX2 register: the same products, lane sums
    /// and canonical combination.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let full = n / 8 * 8;
        let mut acc = _mm256_setzero_ps();
        for i in (0..full).step_by(8) {
            let (x, y) = (a.as_ptr().add(i), b.as_ptr().add(i));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(y)));
        }
        let mut s = combine(acc);
        for i in full..n {
            s += a[i] * b[i];
        }
        s
    }
}

/// The simd128 copy (the page's builds).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(super) struct Simd128Dot;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
impl Dot for Simd128Dot {
    #[inline(always)]
    fn scores(q: &[f32], keys: &KvView<'_>, scale: f32, out: &mut [f32]) {
        simd128::scores(q, keys, scale, out)
    }

    #[inline(always)]
    fn weighted_sum(p: &[f32], values: &KvView<'_>, out: &mut [f32]) {
        simd128::weighted_sum(p, values, out)
    }
}

/// The simd128 scores and weighted sums: the eight canonical lanes as two
/// f32x4 (lanes 0-3, 4-7), heads of 64 with the query or output in
/// registers, scores four keys at a time (their lanes summed pairwise, in
/// the canonical combination, into one vector); other sizes the plain way.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use core::arch::wasm32::*;

    use super::KvView;

    /// The head size the register paths take.
    const HD: usize = 64;

    /// `[x0 + x1, x2 + x3, y0 + y1, y2 + y3]`.
    #[inline(always)]
    fn pair(x: v128, y: v128) -> v128 {
        f32x4_add(
            i32x4_shuffle::<0, 2, 4, 6>(x, y),
            i32x4_shuffle::<1, 3, 5, 7>(x, y),
        )
    }

    #[inline(always)]
    fn load(p: *const f32) -> v128 {
        // SAFETY: callers pass pointers to at least four floats in bounds.
        unsafe { v128_load(p as *const v128) }
    }

    pub(super) fn scores(q: &[f32], keys: &KvView<'_>, scale: f32, out: &mut [f32]) {
        if q.len() != HD {
            for (j, s) in out.iter_mut().enumerate().take(keys.span) {
                *s = super::dot(q, keys.at(j, q.len())) * scale;
            }
            return;
        }
        let qv: [v128; 16] = core::array::from_fn(|i| load(q[4 * i..].as_ptr()));
        // Key j's lanes 0-3 and 4-7, each summed over the head in chunk order.
        let lane_sums = |j: usize| -> [v128; 2] {
            let k = keys.at(j, HD);
            let mut acc = [f32x4_splat(0.0); 2];
            for c in 0..8 {
                for (h, acc) in acc.iter_mut().enumerate() {
                    let i = 2 * c + h;
                    *acc = f32x4_add(*acc, f32x4_mul(qv[i], load(k[4 * i..].as_ptr())));
                }
            }
            acc
        };
        let sv = f32x4_splat(scale);
        let full = keys.span / 4 * 4;
        for j0 in (0..full).step_by(4) {
            let a: [[v128; 2]; 4] = core::array::from_fn(|i| lane_sums(j0 + i));
            // ((a0+a1)+(a2+a3)) of lanes 0-3, then of lanes 4-7, per key.
            let half = |h: usize| pair(pair(a[0][h], a[1][h]), pair(a[2][h], a[3][h]));
            let sums = f32x4_add(half(0), half(1));
            // SAFETY: j0 + 4 ≤ span ≤ out.len().
            unsafe {
                v128_store(
                    out[j0..j0 + 4].as_mut_ptr() as *mut v128,
                    f32x4_mul(sums, sv),
                )
            };
        }
        for (j, s) in out.iter_mut().enumerate().take(keys.span).skip(full) {
            let [lo, hi] = lane_sums(j);
            let mut lanes = [0f32; 8];
            // SAFETY: eight floats.
            unsafe {
                v128_store(lanes.as_mut_ptr() as *mut v128, lo);
                v128_store(lanes.as_mut_ptr().add(4) as *mut v128, hi);
            }
            *s = super::super::kernels::combine(lanes) * scale;
        }
    }

    pub(super) fn weighted_sum(p: &[f32], values: &KvView<'_>, out: &mut [f32]) {
        if out.len() != HD {
            let hd = out.len();
            for (j, &pj) in p.iter().enumerate().take(values.span) {
                for (o, &v) in out.iter_mut().zip(values.at(j, hd)) {
                    *o += pj * v;
                }
            }
            return;
        }
        let mut o: [v128; 16] = core::array::from_fn(|i| load(out[4 * i..].as_ptr()));
        for (j, &pj) in p.iter().enumerate().take(values.span) {
            let v = values.at(j, HD);
            let pv = f32x4_splat(pj);
            for (i, oi) in o.iter_mut().enumerate() {
                *oi = f32x4_add(*oi, f32x4_mul(pv, load(v[4 * i..].as_ptr())));
            }
        }
        for (i, oi) in o.iter().enumerate() {
            // SAFETY: out holds HD floats.
            unsafe { v128_store(out[4 * i..].as_mut_ptr() as *mut v128, *oi) };
        }
    }
}

/// `a · b` in eight lanes (element `e` in lane `e % 8`, the rest after the
/// canonical combination): one order on every target, and one that the
/// compiler turns into vector multiplies and adds.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0f32; 8];
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = super::kernels::combine(acc);
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn dot_is_the_eight_lane_sum() {
        let a: Vec<f32> = (0..67).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..67).map(|i| (i as f32 * 0.11).cos()).collect();
        let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((super::dot(&a, &b) as f64 - want).abs() < 1e-5);
        let mut lanes = [0f32; 8];
        for e in 0..64 {
            lanes[e % 8] += a[e] * b[e];
        }
        let tail = (64..67).fold(crate::backend::cpu::kernels::combine(lanes), |s, e| {
            s + a[e] * b[e]
        });
        assert_eq!(super::dot(&a, &b), tail);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_dot_equals_the_plain_one_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for n in [1usize, 8, 13, 64, 67, 128] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.731).sin() * 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.297).cos() / 7.0).collect();
            // SAFETY: the CPU has AVX2 (checked above).
            let got = unsafe { super::avx2::dot(&a, &b) };
            assert_eq!(got.to_bits(), super::dot(&a, &b).to_bits(), "n = {n}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_scores_and_weighted_sums_equal_the_plain_ones_bit_for_bit() {
        use super::{Avx2Dot, Dot, KvView, PlainDot};
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for hd in [64usize, 32] {
            for span in [1usize, 7, 8, 9, 33] {
                let stride = 3 * hd;
                let data: Vec<f32> = (0..span * stride)
                    .map(|i| (i as f32 * 0.173).sin() * 2.0)
                    .collect();
                let kv = KvView {
                    data: &data,
                    stride,
                    offset: hd,
                    span,
                };
                let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.41).cos()).collect();
                let (mut want, mut got) = (vec![0f32; span], vec![0f32; span]);
                PlainDot::scores(&q, &kv, 0.125, &mut want);
                // The CPU has AVX2 (checked above), as `Avx2Dot` needs.
                Avx2Dot::scores(&q, &kv, 0.125, &mut got);
                assert_eq!(want, got, "scores hd={hd} span={span}");
                let p: Vec<f32> = (0..span).map(|j| (j as f32 * 0.29).cos().abs()).collect();
                let (mut want, mut got) = (vec![0f32; hd], vec![0f32; hd]);
                PlainDot::weighted_sum(&p, &kv, &mut want);
                Avx2Dot::weighted_sum(&p, &kv, &mut got);
                assert_eq!(want, got, "weighted sum hd={hd} span={span}");
            }
        }
    }
}
