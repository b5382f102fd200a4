//! AVX2 kernels. f32 family: a block's 32 weights widened to four 8-lane f32
//! vectors once, then multiplied with up to four activation vectors
//! (canonical order, no FMA). Integer-dot family: a block's 32 weights as
//! bytes against up to four 8-bit activation blocks (`maddubs`, the pairs
//! reordered into the canonical lanes, `madd`), scaled in f32.

use std::arch::x86_64::*;

use super::{Acts8, Kernels};

pub fn detect() -> Option<Kernels> {
    if is_x86_feature_detected!("avx2") {
        Some(Kernels {
            name: "avx2",
            q4_1: row_q4_1,
            q8_0: row_q8_0,
            q4_1_i8: row_q4_1_i8,
            q8_0_i8: row_q8_0_i8,
        })
    } else {
        None
    }
}

fn check(nb: usize, qs_len: usize, qs_per_block: usize, acts: &[f32], stride: usize, n: usize) {
    assert!(qs_len >= nb * qs_per_block);
    assert!(n == 0 || acts.len() >= (n - 1) * stride + nb * 32);
}

fn row_q4_1(d: &[f32], qs: &[u8], acts: &[f32], stride: usize, out: &mut [f32]) {
    check(d.len(), qs.len(), 16, acts, stride, out.len());
    // SAFETY: `detect` hands this out only when AVX2 is present; bounds checked above.
    unsafe { row_avx2::<true>(d, qs.as_ptr(), acts, stride, out) }
}

fn row_q8_0(d: &[f32], qs: &[i8], acts: &[f32], stride: usize, out: &mut [f32]) {
    check(d.len(), qs.len(), 32, acts, stride, out.len());
    // SAFETY: as above.
    unsafe { row_avx2::<false>(d, qs.as_ptr() as *const u8, acts, stride, out) }
}

/// The block's 32 weights as four f32 vectors (elements 0-7, 8-15, 16-23, 24-31).
#[target_feature(enable = "avx2")]
unsafe fn widen<const Q4: bool>(qs: *const u8, b: usize) -> [__m256; 4] {
    let (lo, hi) = if Q4 {
        let raw = _mm_loadu_si128(qs.add(b * 16) as *const __m128i);
        let mask = _mm_set1_epi8(0x0F);
        (
            _mm_and_si128(raw, mask),
            _mm_and_si128(_mm_srli_epi16(raw, 4), mask),
        )
    } else {
        (
            _mm_loadu_si128(qs.add(b * 32) as *const __m128i),
            _mm_loadu_si128(qs.add(b * 32 + 16) as *const __m128i),
        )
    };
    [
        cvt::<Q4>(lo),
        cvt::<Q4>(_mm_srli_si128(lo, 8)),
        cvt::<Q4>(hi),
        cvt::<Q4>(_mm_srli_si128(hi, 8)),
    ]
}

/// The low 8 bytes of `v` as f32 (unsigned nibbles or signed bytes).
#[target_feature(enable = "avx2")]
unsafe fn cvt<const Q4: bool>(v: __m128i) -> __m256 {
    if Q4 {
        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
    } else {
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
    }
}

#[target_feature(enable = "avx2")]
unsafe fn block_sum(w: &[__m256; 4], a: *const f32) -> __m256 {
    let mut s = _mm256_mul_ps(w[0], _mm256_loadu_ps(a));
    s = _mm256_add_ps(s, _mm256_mul_ps(w[1], _mm256_loadu_ps(a.add(8))));
    s = _mm256_add_ps(s, _mm256_mul_ps(w[2], _mm256_loadu_ps(a.add(16))));
    _mm256_add_ps(s, _mm256_mul_ps(w[3], _mm256_loadu_ps(a.add(24))))
}

#[target_feature(enable = "avx2")]
unsafe fn row_avx2<const Q4: bool>(
    d: &[f32],
    qs: *const u8,
    acts: &[f32],
    stride: usize,
    out: &mut [f32],
) {
    const GROUP: usize = 4;
    for t0 in (0..out.len()).step_by(GROUP) {
        let n = GROUP.min(out.len() - t0);
        let mut acc = [_mm256_setzero_ps(); GROUP];
        for (b, &db) in d.iter().enumerate() {
            let w = widen::<Q4>(qs, b);
            let dv = _mm256_set1_ps(db);
            for (i, acc) in acc.iter_mut().enumerate().take(n) {
                let a = acts.as_ptr().add((t0 + i) * stride + b * 32);
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(dv, block_sum(&w, a)));
            }
        }
        for (i, acc) in acc.iter().enumerate().take(n) {
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
            out[t0 + i] = super::combine(lanes);
        }
    }
}

fn row_q4_1_i8(d: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    assert!(qs.len() >= d.len() * 16);
    acts.check(d.len(), out.len());
    // SAFETY: `detect` hands this out only when AVX2 is present; bounds checked above.
    unsafe { row_i8_avx2::<true>(d, qs.as_ptr(), acts, out) }
}

fn row_q8_0_i8(d: &[f32], qs: &[i8], acts: Acts8<'_>, out: &mut [f32]) {
    assert!(qs.len() >= d.len() * 32);
    acts.check(d.len(), out.len());
    // SAFETY: as above.
    unsafe { row_i8_avx2::<false>(d, qs.as_ptr() as *const u8, acts, out) }
}

/// The block's 32 weights as bytes in element order (nibbles 0-15 for Q4_1).
#[target_feature(enable = "avx2")]
unsafe fn block_bytes<const Q4: bool>(qs: *const u8, b: usize) -> __m256i {
    if Q4 {
        let raw = _mm_loadu_si128(qs.add(b * 16) as *const __m128i);
        let mask = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(raw, mask);
        let hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
        _mm256_set_m128i(hi, lo)
    } else {
        _mm256_loadu_si256(qs.add(b * 32) as *const __m256i)
    }
}

#[target_feature(enable = "avx2")]
unsafe fn row_i8_avx2<const Q4: bool>(d: &[f32], qs: *const u8, acts: Acts8<'_>, out: &mut [f32]) {
    const GROUP: usize = 4;
    let nb = d.len();
    let ones = _mm256_set1_epi16(1);
    // `maddubs` leaves the pair sums p_0..p_7 of each 16 elements in i16
    // lanes 0..7; this order puts p_k beside p_{k+4}, so `madd` gives the
    // canonical lane k = elements {2k, 2k+1, 2k+8, 2k+9} (`scalar::int8_lane`).
    let order = _mm256_setr_epi8(
        0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12,
        13, 6, 7, 14, 15,
    );
    for t0 in (0..out.len()).step_by(GROUP) {
        let n = GROUP.min(out.len() - t0);
        let mut acc = [_mm256_setzero_ps(); GROUP];
        for (b, &db) in d.iter().enumerate() {
            let w = block_bytes::<Q4>(qs, b);
            // Q8_0's signed weights: |w| against a·sign(w) (|-128| reads as 128).
            let wu = if Q4 { w } else { _mm256_sign_epi8(w, w) };
            for (i, acc) in acc.iter_mut().enumerate().take(n) {
                let at = (t0 + i) * nb + b;
                let a = _mm256_loadu_si256(acts.q.as_ptr().add(at * 32) as *const __m256i);
                let a = if Q4 { a } else { _mm256_sign_epi8(a, w) };
                let pairs = _mm256_shuffle_epi8(_mm256_maddubs_epi16(wu, a), order);
                let s = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                let scale = _mm256_set1_ps(db * *acts.d.get_unchecked(at));
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(scale, s));
            }
        }
        for (i, acc) in acc.iter().enumerate().take(n) {
            let mut lanes = [0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
            out[t0 + i] = super::combine(lanes);
        }
    }
}
