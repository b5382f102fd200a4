//! Portable reference kernels: the canonical operation order spelled out
//! (see the module header), and the fallback on CPUs without SIMD.

use super::combine;

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
