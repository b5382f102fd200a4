//! `avx2_dispatch!`: a function whose body is compiled twice, for the
//! baseline x86-64 target (SSE2) and for AVX2, the AVX2 copy taken at run
//! time where the CPU has it. For plain Rust arithmetic that the compiler
//! vectorizes (attention, SwiGLU, log-softmax, the 8-bit quantizer): the
//! same operations in the same order either way (Rust never fuses a
//! multiply and an add), so the results are bit-identical, only wider. In
//! wasm (simd128 for the whole build) and on other targets it is the plain
//! function.

/// `avx2_dispatch! { /// docs  pub(crate) fn name(arg: Type, ...) -> Ret { body } }`
/// (no generic parameters).
macro_rules! avx2_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
