//! WebAssembly simd128 kernels: bytes widened to i16 and multiplied with
//! `i32x4.dot_i16x8_s`, summed per block. Compiled in when the build enables
//! `+simd128` (.cargo/config.toml does).

use super::Kernels;

#[cfg(target_feature = "simd128")]
pub fn detect() -> Option<Kernels> {
    Some(Kernels {
        name: "simd128",
        q4_1: imp::block_sums_q4_1,
        q8_0: imp::block_sums_q8_0,
    })
}

#[cfg(not(target_feature = "simd128"))]
pub fn detect() -> Option<Kernels> {
    None
}

#[cfg(target_feature = "simd128")]
mod imp {
    use core::arch::wasm32::*;

    #[inline(always)]
    fn hsum_i32(v: v128) -> i32 {
        i32x4_extract_lane::<0>(v)
            + i32x4_extract_lane::<1>(v)
            + i32x4_extract_lane::<2>(v)
            + i32x4_extract_lane::<3>(v)
    }

    #[inline(always)]
    fn dot_u8_i8(w: v128, a: v128) -> v128 {
        i32x4_add(
            i32x4_dot_i16x8(u16x8_extend_low_u8x16(w), i16x8_extend_low_i8x16(a)),
            i32x4_dot_i16x8(u16x8_extend_high_u8x16(w), i16x8_extend_high_i8x16(a)),
        )
    }

    #[inline(always)]
    fn dot_i8_i8(w: v128, a: v128) -> v128 {
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), i16x8_extend_low_i8x16(a)),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), i16x8_extend_high_i8x16(a)),
        )
    }

    pub fn block_sums_q4_1(wq: &[u8], aq: &[i8], out: &mut [i32]) {
        assert!(wq.len() >= out.len() * 16 && aq.len() >= out.len() * 32);
        let mask = u8x16_splat(0x0F);
        for (b, o) in out.iter_mut().enumerate() {
            // SAFETY: the assert above keeps every 16-byte load in bounds.
            let (raw, a0, a1) = unsafe {
                (
                    v128_load(wq.as_ptr().add(b * 16) as *const v128),
                    v128_load(aq.as_ptr().add(b * 32) as *const v128),
                    v128_load(aq.as_ptr().add(b * 32 + 16) as *const v128),
                )
            };
            *o = hsum_i32(i32x4_add(
                dot_u8_i8(v128_and(raw, mask), a0),
                dot_u8_i8(u8x16_shr(raw, 4), a1),
            ));
        }
    }

    pub fn block_sums_q8_0(wq: &[i8], aq: &[i8], out: &mut [i32]) {
        assert!(wq.len() >= out.len() * 32 && aq.len() >= out.len() * 32);
        for (b, o) in out.iter_mut().enumerate() {
            // SAFETY: the assert above keeps every 16-byte load in bounds.
            let (w0, w1, a0, a1) = unsafe {
                (
                    v128_load(wq.as_ptr().add(b * 32) as *const v128),
                    v128_load(wq.as_ptr().add(b * 32 + 16) as *const v128),
                    v128_load(aq.as_ptr().add(b * 32) as *const v128),
                    v128_load(aq.as_ptr().add(b * 32 + 16) as *const v128),
                )
            };
            *o = hsum_i32(i32x4_add(dot_i8_i8(w0, a0), dot_i8_i8(w1, a1)));
        }
    }
}
