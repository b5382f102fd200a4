//! AVX2 kernels: unsigned-by-signed byte products (`maddubs`) widened to
//! i32 and summed per block, as in llama.cpp's Q4_1 x Q8_1 path.

use std::arch::x86_64::*;

use super::Kernels;

pub fn detect() -> Option<Kernels> {
    if is_x86_feature_detected!("avx2") {
        Some(Kernels {
            name: "avx2",
            q4_1: block_sums_q4_1,
            q8_0: block_sums_q8_0,
        })
    } else {
        None
    }
}

fn block_sums_q4_1(wq: &[u8], aq: &[i8], out: &mut [i32]) {
    assert!(wq.len() >= out.len() * 16 && aq.len() >= out.len() * 32);
    // SAFETY: `detect` hands this out only when AVX2 is present; bounds checked above.
    unsafe { q4_1_avx2(wq, aq, out) }
}

fn block_sums_q8_0(wq: &[i8], aq: &[i8], out: &mut [i32]) {
    assert!(wq.len() >= out.len() * 32 && aq.len() >= out.len() * 32);
    // SAFETY: as above.
    unsafe { q8_0_avx2(wq, aq, out) }
}

#[target_feature(enable = "avx2")]
unsafe fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    _mm_cvtsi128_si32(s)
}

#[target_feature(enable = "avx2")]
unsafe fn q4_1_avx2(wq: &[u8], aq: &[i8], out: &mut [i32]) {
    let mask = _mm_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    for (b, o) in out.iter_mut().enumerate() {
        let raw = _mm_loadu_si128(wq.as_ptr().add(b * 16) as *const __m128i);
        let lo = _mm_and_si128(raw, mask);
        let hi = _mm_and_si128(_mm_srli_epi16(raw, 4), mask);
        let w = _mm256_set_m128i(hi, lo);
        let a = _mm256_loadu_si256(aq.as_ptr().add(b * 32) as *const __m256i);
        // Nibbles are at most 15, so the i16 pair sums cannot saturate.
        *o = hsum_i32(_mm256_madd_epi16(_mm256_maddubs_epi16(w, a), ones));
    }
}

#[target_feature(enable = "avx2")]
unsafe fn q8_0_avx2(wq: &[i8], aq: &[i8], out: &mut [i32]) {
    let ones = _mm256_set1_epi16(1);
    for (b, o) in out.iter_mut().enumerate() {
        let w = _mm256_loadu_si256(wq.as_ptr().add(b * 32) as *const __m256i);
        let a = _mm256_loadu_si256(aq.as_ptr().add(b * 32) as *const __m256i);
        // |w| (unsigned) times a·sign(w) (signed) = w·a in maddubs' operand order;
        // |w| <= 128 and |a| <= 127 keep each i16 pair sum below 32767.
        let p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        *o = hsum_i32(_mm256_madd_epi16(p, ones));
    }
}
