//! Portable reference kernels (and the fallback on CPUs without SIMD).

pub fn block_sums_q4_1(wq: &[u8], aq: &[i8], out: &mut [i32]) {
    for (b, o) in out.iter_mut().enumerate() {
        let q = &wq[b * 16..b * 16 + 16];
        let a = &aq[b * 32..b * 32 + 32];
        *o = (0..16)
            .map(|j| (q[j] & 15) as i32 * a[j] as i32 + (q[j] >> 4) as i32 * a[j + 16] as i32)
            .sum();
    }
}

pub fn block_sums_q8_0(wq: &[i8], aq: &[i8], out: &mut [i32]) {
    for (b, o) in out.iter_mut().enumerate() {
        *o = wq[b * 32..b * 32 + 32]
            .iter()
            .zip(&aq[b * 32..b * 32 + 32])
            .map(|(&w, &a)| w as i32 * a as i32)
            .sum();
    }
}
