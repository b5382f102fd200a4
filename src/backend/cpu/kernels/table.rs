//! What every kernel variant shares: the row-kernel signatures, the
//! [`Kernels`] table a variant fills in, and the canonical lane combination
//! (see `kernels/mod.rs` for the float order).

/// One Q4_1 row (`d` per block, 16 nibble bytes per block) against `out.len()`
/// activation vectors laid out `stride` apart in `acts`.
pub type RowQ41 = fn(d: &[f32], qs: &[u8], acts: &[f32], stride: usize, out: &mut [f32]);
/// One Q8_0 row (`d` per block, 32 signed bytes per block) against vectors.
pub type RowQ80 = fn(d: &[f32], qs: &[i8], acts: &[f32], stride: usize, out: &mut [f32]);

#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    pub q4_1: RowQ41,
    pub q8_0: RowQ80,
}

/// The canonical lane combination.
#[inline(always)]
pub fn combine(acc: [f32; 8]) -> f32 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}
