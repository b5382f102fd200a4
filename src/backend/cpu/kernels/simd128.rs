//! WebAssembly simd128 kernels: the canonical 8-lane order as two 4-lane
//! halves. f32 family: weights widened to f32 once per block and reused for
//! up to four activation vectors. Integer-dot family: weights widened to
//! i16 once per block, `i32x4.dot_i16x8_s` against each 8-bit activation
//! block loaded eight bytes at a time straight into i16 lanes, eight blocks'
//! sums gathered into two i32x4 and scaled together. Compiled in when the
//! build enables `+simd128`.
//!
//! A build that also enables `+relaxed-simd` (the page's
//! `worker_mt_relaxed` build, loaded where the browser validates it; issue
//! 13) takes Q4_1's 32 byte products in two
//! `i32x4.relaxed_dot_i8x16_i7x16_add_s`: the nibbles (0..=15) are the
//! 7-bit operand, the activations the signed one, and no pair sum comes
//! near the i16 limit (2·15·127), so every engine computes the same exact
//! integers and the results stay bit-identical. Q8_0's weights are signed,
//! which the instruction does not allow, so its blocks keep the i16 path.
//! Both builds also have eight-row kernels (`wasm_rows8`), so in Int8 mode
//! the matrices are repacked row-interleaved and the integer-dot row
//! kernels here serve only matrices that do not fit that layout.

use super::Kernels;

#[cfg(target_feature = "simd128")]
pub fn detect() -> Option<Kernels> {
    Some(Kernels {
        name: if cfg!(target_feature = "relaxed-simd") {
            "relaxed-simd"
        } else {
            "simd128"
        },
        q4_1: imp::row_q4_1,
        q8_0: imp::row_q8_0,
        q4_1_i8: imp::row_q4_1_i8,
        q8_0_i8: imp::row_q8_0_i8,
        rows8: rows8(),
    })
}

/// The eight-row kernels (`wasm_rows8`): the loader then repacks the
/// matrices row-interleaved, as on x86 with VNNI.
#[cfg(target_feature = "simd128")]
fn rows8() -> Option<super::Rows8> {
    Some(super::Rows8 {
        q4_1: super::wasm_rows8::rows8_q4_1,
        q8_0: super::wasm_rows8::rows8_q8_0,
    })
}

#[cfg(not(target_feature = "simd128"))]
pub fn detect() -> Option<Kernels> {
    None
}

#[cfg(target_feature = "simd128")]
mod imp {
    use super::super::Acts8;
    use core::arch::wasm32::*;

    fn check(nb: usize, qs_len: usize, qs_per_block: usize, acts: &[f32], stride: usize, n: usize) {
        assert!(qs_len >= nb * qs_per_block);
        assert!(n == 0 || acts.len() >= (n - 1) * stride + nb * 32);
    }

    pub(super) fn row_q4_1(d: &[f32], qs: &[u8], acts: &[f32], stride: usize, out: &mut [f32]) {
        check(d.len(), qs.len(), 16, acts, stride, out.len());
        row::<true>(d, qs.as_ptr(), acts, stride, out)
    }

    pub(super) fn row_q8_0(d: &[f32], qs: &[i8], acts: &[f32], stride: usize, out: &mut [f32]) {
        check(d.len(), qs.len(), 32, acts, stride, out.len());
        row::<false>(d, qs.as_ptr() as *const u8, acts, stride, out)
    }

    /// The block's 32 weights as eight f32x4 (elements 0-3, 4-7, ..., 28-31).
    #[inline(always)]
    fn widen<const Q4: bool>(qs: *const u8, b: usize) -> [v128; 8] {
        // SAFETY: `check` keeps the block's bytes in bounds.
        let (lo, hi) = unsafe {
            if Q4 {
                super::super::wasm_rows8::split_nibbles(v128_load(qs.add(b * 16) as *const v128))
            } else {
                (
                    v128_load(qs.add(b * 32) as *const v128),
                    v128_load(qs.add(b * 32 + 16) as *const v128),
                )
            }
        };
        let mut w = [f32x4_splat(0.0); 8];
        for (h, v) in [lo, hi].into_iter().enumerate() {
            let (a, b) = if Q4 {
                (u16x8_extend_low_u8x16(v), u16x8_extend_high_u8x16(v))
            } else {
                (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v))
            };
            w[h * 4] = f32x4_convert_i32x4(i32x4_extend_low_i16x8(a));
            w[h * 4 + 1] = f32x4_convert_i32x4(i32x4_extend_high_i16x8(a));
            w[h * 4 + 2] = f32x4_convert_i32x4(i32x4_extend_low_i16x8(b));
            w[h * 4 + 3] = f32x4_convert_i32x4(i32x4_extend_high_i16x8(b));
        }
        w
    }

    /// Lanes 0-3 (`half` 0) or 4-7 (`half` 1) of the canonical block sum.
    #[inline(always)]
    fn block_sum(w: &[v128; 8], a: *const f32, half: usize) -> v128 {
        // SAFETY: `check` keeps the 32 activations of the block in bounds.
        unsafe {
            let mut s = f32x4_mul(w[half], v128_load(a.add(4 * half) as *const v128));
            for g in 1..4 {
                let i = 2 * g + half;
                s = f32x4_add(s, f32x4_mul(w[i], v128_load(a.add(4 * i) as *const v128)));
            }
            s
        }
    }

    fn row<const Q4: bool>(d: &[f32], qs: *const u8, acts: &[f32], stride: usize, out: &mut [f32]) {
        const GROUP: usize = 4;
        for t0 in (0..out.len()).step_by(GROUP) {
            let n = GROUP.min(out.len() - t0);
            let mut acc = [[f32x4_splat(0.0); 2]; GROUP];
            for (b, &db) in d.iter().enumerate() {
                let w = widen::<Q4>(qs, b);
                let dv = f32x4_splat(db);
                for (i, acc) in acc.iter_mut().enumerate().take(n) {
                    let a = acts[(t0 + i) * stride + b * 32..].as_ptr();
                    for (half, acc) in acc.iter_mut().enumerate() {
                        *acc = f32x4_add(*acc, f32x4_mul(dv, block_sum(&w, a, half)));
                    }
                }
            }
            for (i, acc) in acc.iter().enumerate().take(n) {
                out[t0 + i] = super::super::combine(lanes(acc));
            }
        }
    }

    /// The eight canonical lanes held as two f32x4 halves.
    fn lanes(acc: &[v128; 2]) -> [f32; 8] {
        let mut lanes = [0f32; 8];
        for (half, v) in acc.iter().enumerate() {
            for l in 0..4 {
                lanes[4 * half + l] = match l {
                    0 => f32x4_extract_lane::<0>(*v),
                    1 => f32x4_extract_lane::<1>(*v),
                    2 => f32x4_extract_lane::<2>(*v),
                    _ => f32x4_extract_lane::<3>(*v),
                };
            }
        }
        lanes
    }

    pub(super) fn row_q4_1_i8(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
        assert!(qs.len() >= d.len() * 16 && m.len() >= d.len());
        acts.check(d.len(), out.len());
        row_i8::<true>(d, m, qs.as_ptr(), acts, out)
    }

    pub(super) fn row_q8_0_i8(d: &[f32], qs: &[i8], acts: Acts8<'_>, out: &mut [f32]) {
        assert!(qs.len() >= d.len() * 32);
        acts.check(d.len(), out.len());
        row_i8::<false>(d, &[], qs.as_ptr() as *const u8, acts, out)
    }

    /// The block's 32 weights as four i16x8 (elements 0-7, 8-15, 16-23,
    /// 24-31); in the relaxed build, Q4_1's as two u8x16 (0-15, 16-31).
    #[inline(always)]
    fn block_i16<const Q4: bool>(qs: *const u8, b: usize) -> [v128; 4] {
        if !Q4 {
            // SAFETY: the callers' asserts keep the block's bytes in bounds.
            return unsafe {
                let p = qs.add(b * 32) as *const i8;
                [0, 8, 16, 24].map(|o| i16x8_load_extend_i8x8(p.add(o)))
            };
        }
        // SAFETY: as above.
        let raw = unsafe { v128_load(qs.add(b * 16) as *const v128) };
        let (lo, hi) = super::super::wasm_rows8::split_nibbles(raw);
        if cfg!(target_feature = "relaxed-simd") {
            // Elements 0-15 and 16-31 as bytes, for `block_dot_relaxed`.
            return [lo, hi, lo, hi];
        }
        [
            i16x8_extend_low_i8x16(lo),
            i16x8_extend_high_i8x16(lo),
            i16x8_extend_low_i8x16(hi),
            i16x8_extend_high_i8x16(hi),
        ]
    }

    /// One block's 32 products in four i32 lanes (exact).
    #[inline(always)]
    fn block_dot(w: &[v128; 4], a: *const i8) -> v128 {
        // SAFETY: the callers' checks keep the block's 32 bytes in bounds;
        // each load widens 8 of them to i16.
        let a = unsafe { [0, 8, 16, 24].map(|o| i16x8_load_extend_i8x8(a.add(o))) };
        i32x4_add(
            i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1])),
            i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3])),
        )
    }

    /// One Q4_1 block's 32 products in four i32 lanes (exact): `w` from
    /// `block_i16` of the relaxed build (nibbles as bytes).
    #[cfg(target_feature = "relaxed-simd")]
    #[inline(always)]
    fn block_dot_relaxed(w: &[v128; 4], a: *const i8) -> v128 {
        // SAFETY: the callers' checks keep the block's 32 bytes in bounds.
        let (a0, a1) = unsafe {
            (
                v128_load(a as *const v128),
                v128_load(a.add(16) as *const v128),
            )
        };
        let low = i32x4_relaxed_dot_i8x16_i7x16_add(a0, w[0], i32x4_splat(0));
        i32x4_relaxed_dot_i8x16_i7x16_add(a1, w[1], low)
    }

    /// One block's products for this build: Q4_1's through the relaxed dot
    /// where the build has it.
    #[inline(always)]
    fn block_dot_for<const Q4: bool>(w: &[v128; 4], a: *const i8) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        if Q4 {
            return block_dot_relaxed(w, a);
        }
        block_dot(w, a)
    }

    /// Four blocks' lane sums: lane `j` of the result sums `p[j]`'s lanes.
    #[inline(always)]
    fn block_sums(p: &[v128]) -> v128 {
        let pair = |x: v128, y: v128| {
            i32x4_add(
                i32x4_shuffle::<0, 2, 4, 6>(x, y),
                i32x4_shuffle::<1, 3, 5, 7>(x, y),
            )
        };
        pair(pair(p[0], p[1]), pair(p[2], p[3]))
    }

    /// `v[at..at + K]` as lanes of two f32x4 (zeros after `K`).
    #[inline(always)]
    fn lanes8<const K: usize>(v: &[f32], at: usize) -> [v128; 2] {
        let mut padded = [0f32; 8];
        let v: &[f32] = if K == 8 {
            &v[at..at + 8]
        } else {
            padded[..K].copy_from_slice(&v[at..at + K]);
            &padded
        };
        // SAFETY: two 16-byte loads from eight floats.
        unsafe {
            [
                v128_load(v.as_ptr() as *const v128),
                v128_load(v.as_ptr().add(4) as *const v128),
            ]
        }
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

    /// The canonical integer order (`kernels/mod.rs`), eight blocks at a
    /// time: their sums in two i32x4, scaled once per eight blocks. The
    /// vector count `N` and a group's block count `K` are constants, so the
    /// accumulators and weights stay in registers.
    fn row_i8<const Q4: bool>(
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
                1 => vectors::<Q4, 1>(w, out),
                2 => vectors::<Q4, 2>(w, out),
                3 => vectors::<Q4, 3>(w, out),
                _ => vectors::<Q4, 4>(w, out),
            }
        }
    }

    #[inline(always)]
    fn vectors<const Q4: bool, const N: usize>(w: Row<'_>, out: &mut [f32]) {
        let nb = w.d.len();
        let mut acc = [[f32x4_splat(0.0); 2]; N];
        let full = nb / 8 * 8;
        for b0 in (0..full).step_by(8) {
            group::<Q4, N, 8>(w, b0, &mut acc);
        }
        match nb - full {
            0 => {}
            1 => group::<Q4, N, 1>(w, full, &mut acc),
            2 => group::<Q4, N, 2>(w, full, &mut acc),
            3 => group::<Q4, N, 3>(w, full, &mut acc),
            4 => group::<Q4, N, 4>(w, full, &mut acc),
            5 => group::<Q4, N, 5>(w, full, &mut acc),
            6 => group::<Q4, N, 6>(w, full, &mut acc),
            _ => group::<Q4, N, 7>(w, full, &mut acc),
        }
        for (o, acc) in out.iter_mut().zip(&acc) {
            *o = super::super::combine(lanes(acc));
        }
    }

    /// Blocks `b0..b0 + K` (K ≤ 8) of the row against `N` vectors.
    #[inline(always)]
    fn group<const Q4: bool, const N: usize, const K: usize>(
        w: Row<'_>,
        b0: usize,
        acc: &mut [[v128; 2]; N],
    ) {
        let zero = i32x4_splat(0);
        let mut wq = [[zero; 4]; 8];
        for (j, wq) in wq.iter_mut().enumerate().take(K) {
            *wq = block_i16::<Q4>(w.qs, b0 + j);
        }
        let wd = lanes8::<K>(w.d, b0);
        let wm = if Q4 {
            lanes8::<K>(w.m, b0)
        } else {
            [f32x4_splat(0.0); 2]
        };
        let nb = w.d.len();
        for (i, acc) in acc.iter_mut().enumerate() {
            let at = (w.t0 + i) * nb + b0;
            let mut p = [zero; 8];
            for (j, p) in p.iter_mut().enumerate().take(K) {
                *p = block_dot_for::<Q4>(&wq[j], w.acts.q[(at + j) * 32..].as_ptr());
            }
            let ad = lanes8::<K>(w.acts.d, at);
            let sums = if Q4 { lanes8::<K>(w.acts.s, at) } else { ad };
            for (h, acc) in acc.iter_mut().enumerate() {
                let s = f32x4_convert_i32x4(block_sums(&p[4 * h..4 * h + 4]));
                let scale = f32x4_mul(wd[h], ad[h]);
                *acc = f32x4_add(*acc, f32x4_mul(scale, s));
                if Q4 {
                    *acc = f32x4_add(*acc, f32x4_mul(wm[h], sums[h]));
                }
            }
        }
    }
}
