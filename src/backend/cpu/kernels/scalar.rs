//! Portable reference kernels: the canonical operation order spelled out
//! (see the module header), and the fallback on CPUs without SIMD.

use super::{combine, Acts8};

#[inline(always)]
fn nibble(qs: &[u8], e: usize) -> f32 {
    if e < 16 {
        (qs[e] & 15) as f32
    } else {
        (qs[e - 16] >> 4) as f32
    }
}

fn row<Q: Fn(usize, usize) -> f32>(d: &[f32], q: Q, acts: &[f32], stride: usize, out: &mut [f32]) {
    for (t, o) in out.iter_mut().enumerate() {
        let a = &acts[t * stride..];
        let mut acc = [0f32; 8];
        for (b, &db) in d.iter().enumerate() {
            let a = &a[b * 32..b * 32 + 32];
            for j in 0..8 {
                let mut s = q(b, j) * a[j];
                for g in 1..4 {
                    s += q(b, 8 * g + j) * a[8 * g + j];
                }
                acc[j] += db * s;
            }
        }
        *o = combine(acc);
    }
}

pub fn row_q4_1(d: &[f32], qs: &[u8], acts: &[f32], stride: usize, out: &mut [f32]) {
    row(
        d,
        |b, e| nibble(&qs[b * 16..b * 16 + 16], e),
        acts,
        stride,
        out,
    )
}

pub fn row_q8_0(d: &[f32], qs: &[i8], acts: &[f32], stride: usize, out: &mut [f32]) {
    row(d, |b, e| qs[b * 32 + e] as f32, acts, stride, out)
}

avx2_dispatch! {
    /// Quantizes `x` (whole 32-blocks) to 8 bits per block: `d = amax / 127`,
    /// `q = round_ties_even(x · (127 / amax))` (|q| ≤ 127: the product is at
    /// most 127 times one rounding), `s = d · Σ q` (Q4_1's minimum term). One
    /// definition for every target, so the quantized activations, and with them
    /// the logits, are the same natively and in the browser.
    pub fn quantize_q8(x: &[f32], d: &mut [f32], s: &mut [f32], q: &mut [i8]) {
        for (((xb, d), s), qb) in x.chunks_exact(32).zip(d).zip(s).zip(q.chunks_exact_mut(32)) {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            let id = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            let mut sum = 0i32;
            for (qe, &xe) in qb.iter_mut().zip(xb) {
                *qe = round_small(xe * id) as i8;
                sum += *qe as i32;
            }
            *d = amax / 127.0;
            *s = *d * sum as f32;
        }
    }
}

/// Rounds `v` (|v| ≤ 2^22) to the nearest integer, ties to even: adding and
/// subtracting 1.5·2^23 leaves no fraction bits under IEEE round-to-nearest-
/// even, so it is `round_ties_even` on every target without a libm call.
#[inline(always)]
fn round_small(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// The integer-dot family's canonical order (`kernels/mod.rs`): block `b`'s
/// exact integer dot in lane `b % 8`, scaled, then Q4_1's minimum term
/// (`m` empty for Q8_0).
fn row_i8<Q: Fn(usize, usize) -> i32>(
    d: &[f32],
    m: &[f32],
    q: Q,
    acts: Acts8<'_>,
    out: &mut [f32],
) {
    let nb = d.len();
    for (t, o) in out.iter_mut().enumerate() {
        let mut acc = [0f32; 8];
        for (b, &wd) in d.iter().enumerate() {
            let at = t * nb + b;
            let a = &acts.q[at * 32..][..32];
            let s: i32 = a
                .iter()
                .enumerate()
                .map(|(e, &ae)| q(b, e) * ae as i32)
                .sum();
            let j = b % 8;
            acc[j] += (wd * acts.d[at]) * s as f32;
            if let Some(&mb) = m.get(b) {
                acc[j] += mb * acts.s[at];
            }
        }
        *o = combine(acc);
    }
}

pub fn row_q4_1_i8(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]) {
    let nib = |b: usize, e: usize| nibble(&qs[b * 16..b * 16 + 16], e) as i32;
    row_i8(d, m, nib, acts, out)
}

pub fn row_q8_0_i8(d: &[f32], qs: &[i8], acts: Acts8<'_>, out: &mut [f32]) {
    row_i8(d, &[], |b, e| qs[b * 32 + e] as i32, acts, out)
}
