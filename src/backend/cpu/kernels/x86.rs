//! AVX2 kernels. f32 family: a block's 32 weights widened to four 8-lane f32
//! vectors once, then multiplied with up to four activation vectors
//! (canonical order, no FMA). Integer-dot family: eight blocks' weights as
//! bytes against up to four 8-bit activation vectors (`maddubs` + `madd`,
//! or AVX-512 VNNI's `vpdpbusd` where the CPU has it), the eight blocks'
//! sums in one vector, scaled in f32 once per eight blocks.

use std::arch::x86_64::*;

use super::{combine, Acts8, Kernels, Rows8};

/// The fastest kernels this CPU runs.
pub fn detect() -> Option<Kernels> {
    variants().pop()
}

/// Every variant this CPU runs, slowest first (the tests hold each to the
/// scalar reference).
pub fn variants() -> Vec<Kernels> {
    let mut out = Vec::new();
    if !is_x86_feature_detected!("avx2") {
        return out;
    }
    let avx2 = Kernels {
        name: "avx2",
        q4_1: row_q4_1,
        q8_0: row_q8_0,
        q4_1_i8: row_q4_1_i8,
        q8_0_i8: row_q8_0_i8,
        rows8: None,
    };
    out.push(avx2);
    if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
        let vnni = Kernels {
            name: "avx512vnni",
            q4_1_i8: row_q4_1_vnni,
            q8_0_i8: row_q8_0_vnni,
            ..avx2
        };
        out.push(vnni);
        // The same instruction over eight interleaved rows at a time (the
        // matrices repacked at load; `x86_rows8`).
        out.push(Kernels {
            name: "avx512vnni-rows8",
            rows8: Some(Rows8 {
                q4_1: super::x86_rows8::rows8_q4_1,
                q8_0: super::x86_rows8::rows8_q8_0,
            }),
            ..vnni
        });
    }
    out
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
            out[t0 + i] = combine(lanes);
        }
    }
}

fn row_q4_1_i8(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    assert!(qs.len() >= d.len() * 16 && m.len() >= d.len());
    acts.check(d.len(), out.len());
    // SAFETY: `detect` hands this out only when AVX2 is present; bounds checked above.
    unsafe { row_i8_avx2::<true>(d, m, qs.as_ptr(), acts, out) }
}

fn row_q8_0_i8(d: &[f32], qs: &[i8], acts: Acts8<'_>, out: &mut [f32]) {
    assert!(qs.len() >= d.len() * 32);
    acts.check(d.len(), out.len());
    // SAFETY: as above.
    unsafe { row_i8_avx2::<false>(d, &[], qs.as_ptr() as *const u8, acts, out) }
}

fn row_q4_1_vnni(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    assert!(qs.len() >= d.len() * 16 && m.len() >= d.len());
    acts.check(d.len(), out.len());
    // SAFETY: `detect` hands this out only with AVX2, AVX-512 VNNI and VL; bounds checked above.
    unsafe { row_i8_vnni::<true>(d, m, qs.as_ptr(), acts, out) }
}

fn row_q8_0_vnni(d: &[f32], qs: &[i8], acts: Acts8<'_>, out: &mut [f32]) {
    assert!(qs.len() >= d.len() * 32);
    acts.check(d.len(), out.len());
    // SAFETY: as above.
    unsafe { row_i8_vnni::<false>(d, &[], qs.as_ptr() as *const u8, acts, out) }
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

/// `v[at..at + K]` in lanes 0..K, zeros after (a short last group).
#[target_feature(enable = "avx2")]
unsafe fn lanes8<const K: usize>(v: &[f32], at: usize) -> __m256 {
    if K == 8 {
        return _mm256_loadu_ps(v.as_ptr().add(at));
    }
    let mut padded = [0f32; 8];
    padded[..K].copy_from_slice(&v[at..at + K]);
    _mm256_loadu_ps(padded.as_ptr())
}

/// Eight blocks' lane sums: lane `j` of the result is the sum of `p[j]`'s
/// eight lanes (exact in i32).
#[target_feature(enable = "avx2")]
unsafe fn block_sums(p: &[__m256i; 8]) -> __m256i {
    let h01 = _mm256_hadd_epi32(p[0], p[1]);
    let h23 = _mm256_hadd_epi32(p[2], p[3]);
    let h45 = _mm256_hadd_epi32(p[4], p[5]);
    let h67 = _mm256_hadd_epi32(p[6], p[7]);
    // Low halves: blocks 0-3 (a) or 4-7 (b), lanes 0-3; high halves: lanes 4-7.
    let a = _mm256_hadd_epi32(h01, h23);
    let b = _mm256_hadd_epi32(h45, h67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256(a, b, 0x21),
        _mm256_blend_epi32(a, b, 0xF0),
    )
}

/// 32 unsigned × signed byte products summed into 8 i32 lanes: `maddubs`
/// (pairs in i16: at most 2·255·127 for Q8_0's |w|, 2·15·127 for Q4_1, no
/// saturation) and `madd` by ones.
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(wu: __m256i, a: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(wu, a), _mm256_set1_epi16(1))
}

/// The same products with AVX-512 VNNI's `vpdpbusd` (one instruction).
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
unsafe fn dot_vnni(wu: __m256i, a: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), wu, a)
}

/// The integer-dot kernel (canonical order in `kernels/mod.rs`) with the
/// given block dot, compiled once per instruction set (`row`, its
/// `vectors` and `group` named per set): up
/// to four activation vectors per pass over the row, eight blocks' weights
/// unpacked once for all of them. The vector count `N` and a group's block
/// count `K` are constants, so the accumulators stay in registers and the
/// loops unroll.
macro_rules! integer_dot_kernel {
    ($row:ident, $vectors:ident, $group:ident, $features:literal, $dot:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $row<const Q4: bool>(
            d: &[f32],
            m: &[f32],
            qs: *const u8,
            acts: Acts8<'_>,
            out: &mut [f32],
        ) {
            for t0 in (0..out.len()).step_by(4) {
                let w = Row { d, m, qs, acts, t0 };
                let out = &mut out[t0..];
                match out.len() {
                    1 => $vectors::<Q4, 1>(w, out),
                    2 => $vectors::<Q4, 2>(w, out),
                    3 => $vectors::<Q4, 3>(w, out),
                    _ => $vectors::<Q4, 4>(w, out),
                }
            }
        }

        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn $vectors<const Q4: bool, const N: usize>(w: Row<'_>, out: &mut [f32]) {
            let nb = w.d.len();
            let mut acc = [_mm256_setzero_ps(); N];
            let full = nb / 8 * 8;
            for b0 in (0..full).step_by(8) {
                $group::<Q4, N, 8>(w, b0, &mut acc);
            }
            match nb - full {
                0 => {}
                1 => $group::<Q4, N, 1>(w, full, &mut acc),
                2 => $group::<Q4, N, 2>(w, full, &mut acc),
                3 => $group::<Q4, N, 3>(w, full, &mut acc),
                4 => $group::<Q4, N, 4>(w, full, &mut acc),
                5 => $group::<Q4, N, 5>(w, full, &mut acc),
                6 => $group::<Q4, N, 6>(w, full, &mut acc),
                _ => $group::<Q4, N, 7>(w, full, &mut acc),
            }
            for (o, acc) in out.iter_mut().zip(&acc) {
                let mut lanes = [0f32; 8];
                _mm256_storeu_ps(lanes.as_mut_ptr(), *acc);
                *o = combine(lanes);
            }
        }

        /// Blocks `b0..b0 + K` (K ≤ 8) of the row against `N` vectors.
        #[target_feature(enable = $features)]
        #[inline]
        unsafe fn $group<const Q4: bool, const N: usize, const K: usize>(
            w: Row<'_>,
            b0: usize,
            acc: &mut [__m256; N],
        ) {
            let zero = _mm256_setzero_si256();
            // Q8_0's signed weights: |w| against a·sign(w) (|-128| reads as 128).
            let (mut wu, mut ws) = ([zero; 8], [zero; 8]);
            for j in 0..K {
                let q = block_bytes::<Q4>(w.qs, b0 + j);
                (wu[j], ws[j]) = if Q4 {
                    (q, q)
                } else {
                    (_mm256_sign_epi8(q, q), q)
                };
            }
            let wd = lanes8::<K>(w.d, b0);
            let wm = if Q4 {
                lanes8::<K>(w.m, b0)
            } else {
                _mm256_setzero_ps()
            };
            let nb = w.d.len();
            for (i, acc) in acc.iter_mut().enumerate() {
                let at = (w.t0 + i) * nb + b0;
                let mut p = [zero; 8];
                for j in 0..K {
                    let a = w.acts.q.as_ptr().add((at + j) * 32) as *const __m256i;
                    let a = _mm256_loadu_si256(a);
                    let a = if Q4 { a } else { _mm256_sign_epi8(a, ws[j]) };
                    p[j] = $dot(wu[j], a);
                }
                let s = _mm256_cvtepi32_ps(block_sums(&p));
                let scale = _mm256_mul_ps(wd, lanes8::<K>(w.acts.d, at));
                *acc = _mm256_add_ps(*acc, _mm256_mul_ps(scale, s));
                if Q4 {
                    let min = _mm256_mul_ps(wm, lanes8::<K>(w.acts.s, at));
                    *acc = _mm256_add_ps(*acc, min);
                }
            }
        }
    };
}

/// One weight row and the activation vectors from `t0` on.
#[derive(Clone, Copy)]
struct Row<'a> {
    d: &'a [f32],
    m: &'a [f32],
    qs: *const u8,
    acts: Acts8<'a>,
    t0: usize,
}

integer_dot_kernel!(
    row_i8_avx2,
    vectors_i8_avx2,
    group_i8_avx2,
    "avx2",
    dot_avx2
);
integer_dot_kernel!(
    row_i8_vnni,
    vectors_i8_vnni,
    group_i8_vnni,
    "avx2,avx512vnni,avx512vl",
    dot_vnni
);
