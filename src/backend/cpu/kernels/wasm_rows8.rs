//! WebAssembly integer-dot kernels over eight row-interleaved weight rows
//! (`cpu::interleave`; issue 13): the page's counterpart of `x86_rows8`, on
//! the same layout. A 32-byte group of a block holds the same 4 elements of
//! eight rows; its two 16-byte halves (rows 0-3, rows 4-7) meet the
//! vector's 4 activation bytes, splatted, so each row's products land in
//! its own lanes and a block's exact sum per row needs no horizontal sums.
//! The canonical float order (`kernels/mod.rs`) is kept per row by eight
//! accumulators, one per `b % 8`, for each half: bit-identical to every
//! other integer-dot kernel.
//!
//! - **relaxed-simd** (`relaxed` below): `i16x8.relaxed_dot_i8x16_i7x16_s`
//!   gives row `i`'s two pair sums in i16 lanes `2i, 2i + 1`; a block's
//!   eight groups add up in i16 and one pairwise widening gives the row
//!   sums: two instructions per 16 byte products. Exact: the weights (the
//!   7-bit operand) are nibbles, 0..=15, so a pair sum is at most 2·15·128
//!   and eight stay below the i16 limit (30 720 < 32 767). Q8_0's weights,
//!   stored plus 128 (0..=255), are split into high and low nibbles, two
//!   dots per group: `Σ u·a = 16·Σ hi·a + Σ lo·a`.
//! - **simd128** (`plain` below): the 4 rows' bytes widened to i16 (rows
//!   0-1 and 2-3), `i32x4.dot_i16x8_s` against the activations widened the
//!   same way, each row's two pair sums in i32, added across the block and
//!   paired up at its end.
//!
//! Q8_0's stored excess comes back off as 128·Σ a (`Acts8::qsum`), as on
//! x86. Checked where it runs, in the browsers' engines (the unit tests
//! are native): `tests/wasm_kernels` holds both forms to the scalar
//! reference bit for bit in headless Chromium and Firefox, and the page's
//! builds answer exactly as the CLI (tests/e2e/threads.test.mjs,
//! chat.test.mjs, firefox.test.mjs).

use core::arch::wasm32::*;

use super::{Acts8, Rows8Args};

pub fn rows8_q4_1(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    rows8::<true>(Rows8Args::q4_1(d, m, qs, acts, out.len()), out)
}

pub fn rows8_q8_0(d: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    rows8::<false>(Rows8Args::q8_0(d, qs, acts, out.len()), out)
}

/// Vectors up to four at a time: a block's weights are unpacked once for
/// all of them.
fn rows8<const Q4: bool>(w: Rows8Args<'_>, out: &mut [f32]) {
    let mut t = 0;
    while t < w.n {
        match w.n - t {
            1 => vectors::<Q4, 1>(w, t, out),
            2 => vectors::<Q4, 2>(w, t, out),
            3 => vectors::<Q4, 3>(w, t, out),
            _ => vectors::<Q4, 4>(w, t, out),
        }
        t += 4;
    }
}

/// Vectors `t0..t0 + N` against the eight rows, the canonical order per row:
/// `acc[v][b % 8][h]` holds rows `4h..4h + 4` in its lanes.
#[inline(always)]
fn vectors<const Q4: bool, const N: usize>(w: Rows8Args<'_>, t0: usize, out: &mut [f32]) {
    let mut acc = [[[f32x4_splat(0.0); 2]; 8]; N];
    for b in 0..w.nb {
        let sums = if Q4 {
            block_sums_q4_1::<N>(w, b, t0)
        } else {
            less_excess(w, b, t0, block_sums_q8_0::<N>(w, b, t0))
        };
        // SAFETY: the entry points' asserts keep block `b`'s eight scales
        // (and minimums) in bounds.
        let (d, m) = unsafe {
            let d = w.d.as_ptr().add(b * 8);
            let m = if Q4 { w.m.as_ptr().add(b * 8) } else { d };
            (
                [
                    v128_load(d as *const v128),
                    v128_load(d.add(4) as *const v128),
                ],
                [
                    v128_load(m as *const v128),
                    v128_load(m.add(4) as *const v128),
                ],
            )
        };
        for (v, (acc, s)) in acc.iter_mut().zip(&sums).enumerate() {
            let at = (t0 + v) * w.nb + b;
            let ad = f32x4_splat(w.acts.d[at]);
            let acc = &mut acc[b % 8];
            for h in 0..2 {
                let scale = f32x4_mul(d[h], ad);
                acc[h] = f32x4_add(acc[h], f32x4_mul(scale, f32x4_convert_i32x4(s[h])));
                if Q4 {
                    acc[h] = f32x4_add(acc[h], f32x4_mul(m[h], f32x4_splat(w.acts.s[at])));
                }
            }
        }
    }
    for (v, acc) in acc.iter().enumerate() {
        for h in 0..2 {
            let pair = |j: usize| f32x4_add(acc[j][h], acc[j + 1][h]);
            let sum = f32x4_add(f32x4_add(pair(0), pair(2)), f32x4_add(pair(4), pair(6)));
            let lanes = [
                f32x4_extract_lane::<0>(sum),
                f32x4_extract_lane::<1>(sum),
                f32x4_extract_lane::<2>(sum),
                f32x4_extract_lane::<3>(sum),
            ];
            for (i, &lane) in lanes.iter().enumerate() {
                out[(4 * h + i) * w.n + t0 + v] = lane;
            }
        }
    }
}

/// Q8_0's block sums (vector by half) less each vector's 128·Σ a: the
/// weights are stored plus 128.
#[inline(always)]
fn less_excess<const N: usize>(
    w: Rows8Args<'_>,
    b: usize,
    t0: usize,
    mut sums: [[v128; 2]; N],
) -> [[v128; 2]; N] {
    for (v, sums) in sums.iter_mut().enumerate() {
        let excess = i32x4_splat(w.acts.qsum[(t0 + v) * w.nb + b] << 7);
        sums.iter_mut().for_each(|s| *s = i32x4_sub(*s, excess));
    }
    sums
}

/// The 4 activation bytes of group `g` of vector `t`'s block `b`, in every
/// i32 lane.
#[inline(always)]
fn splat_group(w: Rows8Args<'_>, t: usize, b: usize, g: usize) -> v128 {
    // SAFETY: `Acts8::check` in the entry points keeps the vector's blocks
    // in bounds.
    unsafe { v128_load32_splat(w.acts.q.as_ptr().add((t * w.nb + b) * 32 + 4 * g) as *const u32) }
}

/// Block `b`'s 16 bytes at `at` (rows 0-3) and `at + 16` (rows 4-7), each
/// byte split into its low and high nibbles: `[[lo, hi]; 2]`, by half.
#[inline(always)]
fn nibbles(w: Rows8Args<'_>, at: usize) -> [[v128; 2]; 2] {
    [0, 16].map(|o| {
        // SAFETY: the entry points' asserts keep the block's bytes in bounds.
        let (lo, hi) = split_nibbles(unsafe { v128_load(w.qs.add(at + o) as *const v128) });
        [lo, hi]
    })
}

/// Each byte of `raw` split into its low and high nibbles, `(lo, hi)`
/// (also the `simd128` module's Q4_1 unpacking).
/// The high nibbles come from a 16-bit shift and the same mask: wasm has no
/// 8-bit shift, and V8 lowers `i8x16.shr_u` on x86 to a 16-bit shift plus a
/// mask it rebuilds from an immediate at every use (three more
/// instructions, in the kernels' innermost loops; seen in a `perf
/// annotate` of the page, tests/e2e/profile.mjs). The bytes are the same.
#[inline(always)]
pub(super) fn split_nibbles(raw: v128) -> (v128, v128) {
    let mask = u8x16_splat(0x0F);
    (v128_and(raw, mask), v128_and(u16x8_shr(raw, 4), mask))
}

#[cfg(not(target_feature = "relaxed-simd"))]
use plain::{block_sums_q4_1, block_sums_q8_0};
#[cfg(target_feature = "relaxed-simd")]
use relaxed::{block_sums_q4_1, block_sums_q8_0};

/// A block's integer sums through the relaxed dot, in i16 until the end.
#[cfg(target_feature = "relaxed-simd")]
mod relaxed {
    use core::arch::wasm32::*;

    use super::{nibbles, splat_group, Rows8Args};

    /// Adds 16 bytes of 4 rows (nibbles) times the splatted activations to the
    /// i16 pair sums `ps`.
    #[inline(always)]
    fn dot_add(ps: v128, weights: v128, acts: v128) -> v128 {
        i16x8_add(ps, i16x8_relaxed_dot_i8x16_i7x16(acts, weights))
    }

    /// Row `i`'s exact block sum in lane `i % 4` of half `i / 4`.
    #[inline(always)]
    fn widen(ps: v128) -> v128 {
        i32x4_extadd_pairwise_i16x8(ps)
    }

    /// Block `b`'s exact integer sums for vectors `t0..t0 + N`: 32-byte chunk
    /// `c` holds group `c` in its low nibbles and group `c + 4` in its high.
    #[inline(always)]
    pub(super) fn block_sums_q4_1<const N: usize>(
        w: Rows8Args<'_>,
        b: usize,
        t0: usize,
    ) -> [[v128; 2]; N] {
        let mut ps = [[i16x8_splat(0); 2]; N];
        for c in 0..4 {
            let q = nibbles(w, b * 128 + c * 32);
            for (v, ps) in ps.iter_mut().enumerate() {
                let (low, high) = (
                    splat_group(w, t0 + v, b, c),
                    splat_group(w, t0 + v, b, c + 4),
                );
                for (ps, [lo, hi]) in ps.iter_mut().zip(q) {
                    *ps = dot_add(dot_add(*ps, lo, low), hi, high);
                }
            }
        }
        ps.map(|p| p.map(widen))
    }

    /// As [`block_sums_q4_1`] for Q8_0 (group `g` is 32 bytes `32g..32g + 32`),
    /// each stored byte split into nibbles; the stored excess is still in.
    #[inline(always)]
    pub(super) fn block_sums_q8_0<const N: usize>(
        w: Rows8Args<'_>,
        b: usize,
        t0: usize,
    ) -> [[v128; 2]; N] {
        // By vector and half: the pair sums of the high and the low nibbles.
        let mut ps = [[[i16x8_splat(0); 2]; 2]; N];
        for g in 0..8 {
            let q = nibbles(w, b * 256 + g * 32);
            for (v, ps) in ps.iter_mut().enumerate() {
                let a = splat_group(w, t0 + v, b, g);
                for (ps, [lo, hi]) in ps.iter_mut().zip(q) {
                    *ps = [dot_add(ps[0], hi, a), dot_add(ps[1], lo, a)];
                }
            }
        }
        ps.map(|p| p.map(|[hi, lo]| i32x4_add(i32x4_shl(widen(hi), 4), widen(lo))))
    }
}

/// A block's integer sums through `i32x4.dot_i16x8_s` (plain simd128).
#[cfg(not(target_feature = "relaxed-simd"))]
mod plain {
    use core::arch::wasm32::*;

    use super::{nibbles, splat_group, Rows8Args};

    /// Group `g` of vector `t`'s block `b` as i16: `[a0 a1 a2 a3 a0 a1 a2 a3]`.
    #[inline(always)]
    fn acts_i16(w: Rows8Args<'_>, t: usize, b: usize, g: usize) -> v128 {
        i16x8_extend_low_i8x16(splat_group(w, t, b, g))
    }

    /// 16 bytes of 4 rows (unsigned) as i16: rows 0-1, rows 2-3.
    #[inline(always)]
    fn widen_u8(v: v128) -> [v128; 2] {
        [u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v)]
    }

    /// `[r0, r0, r1, r1]` and `[r2, r2, r3, r3]` (each row's two pair
    /// sums) as `[r0, r1, r2, r3]`.
    #[inline(always)]
    fn rows_of(p: [v128; 2]) -> v128 {
        i32x4_add(
            i32x4_shuffle::<0, 2, 4, 6>(p[0], p[1]),
            i32x4_shuffle::<1, 3, 5, 7>(p[0], p[1]),
        )
    }

    /// Block `b`'s exact integer sums for vectors `t0..t0 + N`: 32-byte
    /// chunk `c` holds group `c` in its low nibbles and `c + 4` in its high.
    #[inline(always)]
    pub(super) fn block_sums_q4_1<const N: usize>(
        w: Rows8Args<'_>,
        b: usize,
        t0: usize,
    ) -> [[v128; 2]; N] {
        // By vector, half, and rows 0-1 / 2-3 of the half.
        let mut acc = [[[i32x4_splat(0); 2]; 2]; N];
        for c in 0..4 {
            let q = nibbles(w, b * 128 + c * 32).map(|[lo, hi]| [widen_u8(lo), widen_u8(hi)]);
            for (v, acc) in acc.iter_mut().enumerate() {
                let (low, high) = (acts_i16(w, t0 + v, b, c), acts_i16(w, t0 + v, b, c + 4));
                for (acc, [lo, hi]) in acc.iter_mut().zip(&q) {
                    for k in 0..2 {
                        let p =
                            i32x4_add(i32x4_dot_i16x8(lo[k], low), i32x4_dot_i16x8(hi[k], high));
                        acc[k] = i32x4_add(acc[k], p);
                    }
                }
            }
        }
        acc.map(|a| a.map(rows_of))
    }

    /// As [`block_sums_q4_1`] for Q8_0 (group `g` is 32 bytes `32g..32g +
    /// 32`, stored plus 128); the stored excess is still in.
    #[inline(always)]
    pub(super) fn block_sums_q8_0<const N: usize>(
        w: Rows8Args<'_>,
        b: usize,
        t0: usize,
    ) -> [[v128; 2]; N] {
        let mut acc = [[[i32x4_splat(0); 2]; 2]; N];
        for g in 0..8 {
            let q = [0, 16].map(|o| {
                // SAFETY: the entry points' asserts keep the block's 256
                // bytes in bounds.
                widen_u8(unsafe { v128_load(w.qs.add(b * 256 + g * 32 + o) as *const v128) })
            });
            for (v, acc) in acc.iter_mut().enumerate() {
                let a = acts_i16(w, t0 + v, b, g);
                for (acc, q) in acc.iter_mut().zip(&q) {
                    for k in 0..2 {
                        acc[k] = i32x4_add(acc[k], i32x4_dot_i16x8(q[k], a));
                    }
                }
            }
        }
        acc.map(|a| a.map(rows_of))
    }
}
