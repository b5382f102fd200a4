//! Causal grouped-query attention of new positions against their own row's
//! cache: query head h reads KV head h / (n_head / n_kv_head).

use super::threads::{SharedOut, Threads};

/// Shape of one attention call.
pub(super) struct AttentionShape {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
}

/// `q`: `[n_new, n_head * head_dim]` for positions `first_pos..`; `keys` and
/// `values`: the row's cache `[len, n_kv_head * head_dim]`, already holding
/// the new positions. Writes `[n_new, n_head * head_dim]` into `out`.
///
/// The query heads that share a KV head are taken together, so each key
/// and value is read once for all of them; a head's output is
/// `(Σ_j e^(s_j − max) · v_j) / Σ_j e^(s_j − max)`, divided once at the end.
/// On x86-64 with AVX2 the same operations run eight lanes wide. Each (new
/// position, KV head) pair is one task for `threads` when there is enough
/// to share (a long prompt's prefill); a task's arithmetic is the same on
/// any thread, so the output does not depend on the thread count.
pub(super) fn attend(
    shape: &AttentionShape,
    q: &[f32],
    first_pos: usize,
    keys: &[f32],
    values: &[f32],
    out: &mut [f32],
    threads: &Threads,
) {
    let q_dim = shape.n_head * shape.head_dim;
    let n_new = q.len() / q_dim;
    assert!(out.len() >= n_new * q_dim);
    let tasks = n_new * shape.n_kv_head;
    // Keys read over all tasks: below this a fork-join costs more than it saves.
    let reads = n_new * (first_pos + n_new) * shape.n_kv_head;
    let shared = SharedOut(out.as_mut_ptr());
    let task = |t: usize| {
        let (i, g) = (t / shape.n_kv_head, t % shape.n_kv_head);
        let group = shape.n_head / shape.n_kv_head;
        let heads = g * group * shape.head_dim..(g + 1) * group * shape.head_dim;
        // SAFETY: task (i, g) alone writes position i's heads of KV head g,
        // in bounds (asserted above).
        let og = unsafe { shared.slice(i * q_dim + heads.start, heads.len()) };
        let qg = &q[i * q_dim + heads.start..i * q_dim + heads.end];
        SCORES.with_borrow_mut(|scores| {
            attend_one(shape, qg, g, first_pos + i + 1, keys, values, scores, og)
        });
    };
    if threads.count() > 1 && tasks > 1 && reads >= PARALLEL_READS {
        threads.each(tasks, task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Keys read per attention call from which its tasks are shared out.
const PARALLEL_READS: usize = 4096;

thread_local! {
    /// A thread's score buffer, reused across calls.
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One position's query heads of KV head `g` against keys `0..span`.
#[allow(clippy::too_many_arguments)]
fn attend_one(
    shape: &AttentionShape,
    qg: &[f32],
    g: usize,
    span: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    og: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { attend_one_avx2(shape, qg, g, span, keys, values, scores, og) };
    }
    attend_with::<PlainDot>(shape, qg, g, span, keys, values, scores, og)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_one_avx2(
    shape: &AttentionShape,
    qg: &[f32],
    g: usize,
    span: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    og: &mut [f32],
) {
    attend_with::<Avx2Dot>(shape, qg, g, span, keys, values, scores, og)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_with<D: Dot>(
    shape: &AttentionShape,
    qg: &[f32],
    g: usize,
    span: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    og: &mut [f32],
) {
    let hd = shape.head_dim;
    let kv_dim = shape.n_kv_head * hd;
    let group = shape.n_head / shape.n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    // scores[h · span + j]: head h of the group against key j; then each
    // head's total.
    scores.clear();
    scores.resize(group * span + group, 0.0);
    let (scores, totals) = scores.split_at_mut(group * span);
    let kv = KvView {
        data: keys,
        stride: kv_dim,
        offset: g * hd,
        span,
    };
    for (qh, sh) in qg.chunks_exact(hd).zip(scores.chunks_exact_mut(span)) {
        D::scores(qh, &kv, scale, sh);
    }
    og.fill(0.0);
    for (h, sh) in scores.chunks_exact_mut(span).enumerate() {
        let max = sh.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for s in sh.iter_mut() {
            *s = crate::dist::exp_f32(*s - max);
        }
        totals[h] = sh.iter().sum();
    }
    let vs = KvView {
        data: values,
        stride: kv_dim,
        offset: g * hd,
        span,
    };
    for (oh, sh) in og.chunks_exact_mut(hd).zip(scores.chunks_exact(span)) {
        D::weighted_sum(sh, &vs, oh);
    }
    for (oh, &total) in og.chunks_exact_mut(hd).zip(&*totals) {
        oh.iter_mut().for_each(|o| *o /= total);
    }
}

/// One KV head's keys or values in a row's cache: position `j`'s vector
/// is `data[j · stride + offset..][..head_dim]`, for `j < span`.
struct KvView<'a> {
    data: &'a [f32],
    stride: usize,
    offset: usize,
    span: usize,
}

impl KvView<'_> {
    fn at(&self, j: usize, len: usize) -> &[f32] {
        &self.data[j * self.stride + self.offset..][..len]
    }
}

/// A head's scores and weighted sum, as a type so that the AVX2 copy of
/// the attention inlines its own. Every implementation computes the same
/// bits: score `j` is `dot(q, k_j) · scale`; output element `e` is
/// `Σ_j p_j · v_j[e]` added in `j` order from zero.
trait Dot {
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

struct PlainDot;

impl Dot for PlainDot {}

#[cfg(target_arch = "x86_64")]
struct Avx2Dot;

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
