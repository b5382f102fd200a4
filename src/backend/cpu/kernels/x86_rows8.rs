//! AVX-512 VNNI integer-dot kernels over eight row-interleaved weight rows
//! (`cpu::interleave`; issue 13's batched kernels). A block's bytes come as
//! eight 32-byte groups, each holding 4 consecutive elements of the eight
//! rows; `vpdpbusd` of a group against the vector's 4 activation bytes,
//! broadcast, adds row `i`'s 4 products to lane `i`. So a block's exact
//! integer dot lands in lane `i` for row `i` with no horizontal sums, and
//! the canonical order (`kernels/mod.rs`) is kept per row by eight float
//! accumulators, one per `b % 8`, each holding the eight rows in its lanes.
//! The results are bit-identical to every other integer-dot kernel.
//!
//! Both formats feed the weights as the unsigned operand: Q4_1's nibbles
//! are 0..=15, and Q8_0's weights are stored plus 128, so a block's sum
//! comes out `Σ q·a + 128·Σ a`, and the activations' `Σ a` (`Acts8::qsum`)
//! takes the excess back off, exactly.

use std::arch::x86_64::*;

use super::{Acts8, Rows8Args};

pub fn rows8_q4_1(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    let w = Rows8Args::q4_1(d, m, qs, acts, out.len());
    // SAFETY: handed out only where the CPU has AVX2, AVX-512 VNNI and VL;
    // `Rows8Args` checked the bounds.
    unsafe { rows8::<true>(w, out) }
}

pub fn rows8_q8_0(d: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    let w = Rows8Args::q8_0(d, qs, acts, out.len());
    // SAFETY: as above.
    unsafe { rows8::<false>(w, out) }
}

/// Vectors three at a time, so that PDD's and SCR's three-row steps unpack
/// each block once (their 24 accumulators and the 8 unpacked groups fill
/// the 32 registers; what spills costs less than a second pass: the 3-row
/// step 10.1–10.4 ms against 10.7–11.3 two at a time, back to back), then
/// the last two or one.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
unsafe fn rows8<const Q4: bool>(w: Rows8Args<'_>, out: &mut [f32]) {
    let mut t = 0;
    while t + 3 <= w.n {
        vectors::<Q4, 3>(w, t, out);
        t += 3;
    }
    match w.n - t {
        2 => vectors::<Q4, 2>(w, t, out),
        1 => vectors::<Q4, 1>(w, t, out),
        _ => {}
    }
}

/// Vectors `t0..t0 + N` against the eight rows, the canonical order per row.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
unsafe fn vectors<const Q4: bool, const N: usize>(w: Rows8Args<'_>, t0: usize, out: &mut [f32]) {
    let mut acc = [[_mm256_setzero_ps(); 8]; N];
    let full = w.nb / 8 * 8;
    for b0 in (0..full).step_by(8) {
        group::<Q4, N, 8>(w, b0, t0, &mut acc);
    }
    match w.nb - full {
        0 => {}
        1 => group::<Q4, N, 1>(w, full, t0, &mut acc),
        2 => group::<Q4, N, 2>(w, full, t0, &mut acc),
        3 => group::<Q4, N, 3>(w, full, t0, &mut acc),
        4 => group::<Q4, N, 4>(w, full, t0, &mut acc),
        5 => group::<Q4, N, 5>(w, full, t0, &mut acc),
        6 => group::<Q4, N, 6>(w, full, t0, &mut acc),
        _ => group::<Q4, N, 7>(w, full, t0, &mut acc),
    }
    for (v, acc) in acc.iter().enumerate() {
        let sum = _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])),
            _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7])),
        );
        let mut lanes = [0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
        for (i, &lane) in lanes.iter().enumerate() {
            out[i * w.n + t0 + v] = lane;
        }
    }
}

/// Bytes of weights ahead of the block in hand that are asked for early.
/// A matrix is read once per call, front to back, and a one-row decode
/// step waits on memory: the hardware prefetcher alone left the 1-row step
/// at 6.6–7.4 ms against 5.8–6.3 with this (`persona bench --only cpu`,
/// five pairs back to back; 1024 bytes gained less, 4096 the same).
const PREFETCH: usize = 2048;

/// Asks for the cache lines `PREFETCH` bytes past block `b`'s weights, and
/// for its scales (and minimums) as far ahead. Past a group's or the
/// matrix's end this names memory the call does not own: a prefetch is a
/// hint that never faults, and nothing is read from the pointers here.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
unsafe fn prefetch<const Q4: bool>(w: Rows8Args<'_>, b: usize) {
    let stride = if Q4 { 128 } else { 256 };
    let ahead = w.qs.wrapping_add(b * stride + PREFETCH);
    for line in (0..stride).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(line) as *const i8);
    }
    // Eight scales (32 bytes) per block; asking every block measured
    // better than every other one.
    let scales = b * 8 + PREFETCH / stride * 8;
    _mm_prefetch::<_MM_HINT_T0>(w.d.as_ptr().wrapping_add(scales) as *const i8);
    if Q4 {
        _mm_prefetch::<_MM_HINT_T0>(w.m.as_ptr().wrapping_add(scales) as *const i8);
    }
}

/// Blocks `b0..b0 + K` (K ≤ 8; block `b0 + j` into accumulator `j`).
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
unsafe fn group<const Q4: bool, const N: usize, const K: usize>(
    w: Rows8Args<'_>,
    b0: usize,
    t0: usize,
    acc: &mut [[__m256; 8]; N],
) {
    for j in 0..K {
        block::<Q4, N>(w, b0 + j, t0, acc, j);
    }
}

/// Block `b` of the eight rows against `N` vectors, into accumulator `j`.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
unsafe fn block<const Q4: bool, const N: usize>(
    w: Rows8Args<'_>,
    b: usize,
    t0: usize,
    acc: &mut [[__m256; 8]; N],
    j: usize,
) {
    let zero = _mm256_setzero_si256();
    prefetch::<Q4>(w, b);
    // groups[g]: elements 4g..4g+4 of the eight rows, as unsigned bytes.
    let mut groups = [zero; 8];
    if Q4 {
        // 32-byte chunk c: low nibbles are group c, high nibbles group c + 4.
        let mask = _mm256_set1_epi8(0x0F);
        for c in 0..4 {
            let v = _mm256_loadu_si256(w.qs.add(b * 128 + c * 32) as *const __m256i);
            groups[c] = _mm256_and_si256(v, mask);
            groups[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
        }
    } else {
        for (g, group) in groups.iter_mut().enumerate() {
            *group = _mm256_loadu_si256(w.qs.add(b * 256 + g * 32) as *const __m256i);
        }
    }
    let d = _mm256_loadu_ps(w.d.as_ptr().add(b * 8));
    for (v, acc) in acc.iter_mut().enumerate() {
        let at = (t0 + v) * w.nb + b;
        let a = w.acts.q.as_ptr().add(at * 32) as *const i32;
        // Two chains of four, so the dot products overlap.
        let (mut s0, mut s1) = (zero, zero);
        for g in (0..8).step_by(2) {
            s0 = _mm256_dpbusd_epi32(s0, groups[g], _mm256_set1_epi32(a.add(g).read_unaligned()));
            s1 = _mm256_dpbusd_epi32(
                s1,
                groups[g + 1],
                _mm256_set1_epi32(a.add(g + 1).read_unaligned()),
            );
        }
        let mut s = _mm256_add_epi32(s0, s1);
        if !Q4 {
            // The weights' +128 met Σ a: take 128·Σ a back off.
            s = _mm256_sub_epi32(s, _mm256_set1_epi32(*w.acts.qsum.get_unchecked(at) << 7));
        }
        let scale = _mm256_mul_ps(d, _mm256_set1_ps(*w.acts.d.get_unchecked(at)));
        acc[j] = _mm256_add_ps(acc[j], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(s)));
        if Q4 {
            let m = _mm256_loadu_ps(w.m.as_ptr().add(b * 8));
            let min = _mm256_mul_ps(m, _mm256_set1_ps(*w.acts.s.get_unchecked(at)));
            acc[j] = _mm256_add_ps(acc[j], min);
        }
    }
}
