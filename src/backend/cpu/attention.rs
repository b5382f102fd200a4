//! Causal grouped-query attention of new positions against their own row's
//! cache: query head h reads KV head h / (n_head / n_kv_head).

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
/// On x86-64 with AVX2 the same operations run eight lanes wide.
pub(super) fn attend(
    shape: &AttentionShape,
    q: &[f32],
    first_pos: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { attend_avx2(shape, q, first_pos, keys, values, scores, out) };
    }
    attend_with::<PlainDot>(shape, q, first_pos, keys, values, scores, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn attend_avx2(
    shape: &AttentionShape,
    q: &[f32],
    first_pos: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    attend_with::<Avx2Dot>(shape, q, first_pos, keys, values, scores, out)
}

#[inline(always)]
fn attend_with<D: Dot>(
    shape: &AttentionShape,
    q: &[f32],
    first_pos: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    out: &mut [f32],
) {
    let hd = shape.head_dim;
    let kv_dim = shape.n_kv_head * hd;
    let group = shape.n_head / shape.n_kv_head;
    let scale = 1.0 / (hd as f32).sqrt();
    let q_dim = shape.n_head * hd;
    for (i, (qt, ot)) in q
        .chunks_exact(q_dim)
        .zip(out.chunks_exact_mut(q_dim))
        .enumerate()
    {
        let span = first_pos + i + 1;
        for g in 0..shape.n_kv_head {
            let heads = g * group..(g + 1) * group;
            let qg = &qt[heads.start * hd..heads.end * hd];
            // scores[h · span + j]: head h of the group against key j; then
            // each head's total.
            scores.clear();
            scores.resize(group * span + group, 0.0);
            let (scores, totals) = scores.split_at_mut(group * span);
            for j in 0..span {
                let kj = &keys[j * kv_dim + g * hd..][..hd];
                for (h, qh) in qg.chunks_exact(hd).enumerate() {
                    scores[h * span + j] = D::dot(qh, kj) * scale;
                }
            }
            let og = &mut ot[heads.start * hd..heads.end * hd];
            og.fill(0.0);
            for (h, sh) in scores.chunks_exact_mut(span).enumerate() {
                let max = sh.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                for s in sh.iter_mut() {
                    *s = crate::dist::exp_f32(*s - max);
                }
                totals[h] = sh.iter().sum();
            }
            for j in 0..span {
                let vj = &values[j * kv_dim + g * hd..][..hd];
                for (h, oh) in og.chunks_exact_mut(hd).enumerate() {
                    let p = scores[h * span + j];
                    for (o, &v) in oh.iter_mut().zip(vj) {
                        *o += p * v;
                    }
                }
            }
            for (oh, &total) in og.chunks_exact_mut(hd).zip(&*totals) {
                oh.iter_mut().for_each(|o| *o /= total);
            }
        }
    }
}

/// A score's dot product, as a type so that the AVX2 copy of the
/// attention inlines its own.
trait Dot {
    fn dot(a: &[f32], b: &[f32]) -> f32;
}

struct PlainDot;

impl Dot for PlainDot {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b)
    }
}

#[cfg(target_arch = "x86_64")]
struct Avx2Dot;

#[cfg(target_arch = "x86_64")]
impl Dot for Avx2Dot {
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only `attend_avx2`, which runs where the CPU has AVX2,
        // takes this type.
        unsafe { dot_avx2(a, b) }
    }
}

/// [`dot`] in one AVX2 register: the same products, lane sums and
/// canonical combination (`hadd` pairs lanes (0,1), (2,3), ... as it does).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let full = n / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    for i in (0..full).step_by(8) {
        let (x, y) = (a.as_ptr().add(i), b.as_ptr().add(i));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(y)));
    }
    // [a0+a1, a2+a3, a4+a5, a6+a7], then [(a0+a1)+(a2+a3), (a4+a5)+(a6+a7), ..]
    let pairs = _mm_hadd_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let quads = _mm_hadd_ps(pairs, pairs);
    let mut s = _mm_cvtss_f32(_mm_add_ss(quads, _mm_movehdup_ps(quads)));
    for i in full..n {
        s += a[i] * b[i];
    }
    s
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
            let got = unsafe { super::dot_avx2(&a, &b) };
            assert_eq!(got.to_bits(), super::dot(&a, &b).to_bits(), "n = {n}");
        }
    }
}
