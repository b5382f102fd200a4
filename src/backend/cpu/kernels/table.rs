//! What every kernel variant shares: the row-kernel signatures, the
//! [`Kernels`] table a variant fills in, and the canonical lane combination
//! (see `kernels/mod.rs` for the float order).

/// One Q4_1 row (`d` per block, 16 nibble bytes per block) against `out.len()`
/// activation vectors laid out `stride` apart in `acts`, without the
/// minimum term.
pub type RowQ41 = fn(d: &[f32], qs: &[u8], acts: &[f32], stride: usize, out: &mut [f32]);
/// One Q8_0 row (`d` per block, 32 signed bytes per block) against vectors.
pub type RowQ80 = fn(d: &[f32], qs: &[i8], acts: &[f32], stride: usize, out: &mut [f32]);
/// One Q4_1 row (`d` and minimum `m` per block) against `out.len()` 8-bit
/// activation vectors (`Acts8`): `Σ_b (d_b·ad_b·Σ_e q_e·a_e + m_b·s_b)`.
pub type RowQ41I8 = fn(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]);
/// One Q8_0 row against 8-bit activation vectors.
pub type RowQ80I8 = fn(d: &[f32], qs: &[i8], acts: Acts8<'_>, out: &mut [f32]);
/// Eight Q4_1 rows in the row-interleaved layout (`cpu::interleave`: `d`
/// and `m` 8 per block, 128 nibble bytes per block) against `out.len() / 8`
/// 8-bit activation vectors: `out[i·n + t]` is row `i` times vector `t`,
/// the same value [`RowQ41I8`] gives row `i` alone.
pub type Rows8Q41 = fn(d: &[f32], m: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]);
/// Eight Q8_0 rows in the row-interleaved layout (256 bytes per block,
/// each weight stored plus 128 as an unsigned byte), as [`Rows8Q41`].
pub type Rows8Q80 = fn(d: &[f32], qs: &[u8], acts: Acts8<'_>, out: &mut [f32]);

/// Activation vectors quantized to 8 bits per 32-block (`quantize_q8`):
/// vector `t`'s block `b` is `d[t·nb + b] · q[(t·nb + b)·32 ..][..32]`, with
/// `nb` the row's block count, and `s[t·nb + b]` its sum (`d · Σ q`, what
/// Q4_1's minimum term multiplies). `qsum[t·nb + b]` is `Σ q` itself, for
/// the row-interleaved Q8_0 kernels (their weights are stored plus 128);
/// empty when no such kernel reads it.
#[derive(Clone, Copy)]
pub struct Acts8<'a> {
    pub d: &'a [f32],
    pub s: &'a [f32],
    pub q: &'a [i8],
    pub qsum: &'a [i32],
}

impl Acts8<'_> {
    /// Panics unless `n` vectors of `nb` blocks are there (the kernels'
    /// bounds check before their unchecked loads).
    pub fn check(&self, nb: usize, n: usize) {
        assert!(self.d.len() >= n * nb && self.s.len() >= n * nb && self.q.len() >= n * nb * 32);
    }
}

/// An eight-row kernel's arguments (`Rows8Q41`, `Rows8Q80`), checked once:
/// groups of eight interleaved rows of `nb` blocks each, and `n` vectors.
#[derive(Clone, Copy)]
pub struct Rows8Args<'a> {
    pub nb: usize,
    pub d: &'a [f32],
    /// Q4_1's minimums (empty for Q8_0).
    pub m: &'a [f32],
    pub qs: *const u8,
    pub acts: Acts8<'a>,
    pub n: usize,
}

impl<'a> Rows8Args<'a> {
    /// Panics unless the slices hold everything the kernels' unchecked
    /// loads read for `outputs` results (eight rows times `n` vectors).
    pub fn q4_1(d: &'a [f32], m: &'a [f32], qs: &'a [u8], acts: Acts8<'a>, outputs: usize) -> Self {
        let nb = d.len() / 8;
        assert!(d.len() == nb * 8 && m.len() == nb * 8 && qs.len() >= nb * 128);
        let n = outputs / 8;
        acts.check(nb, n);
        let qs = qs.as_ptr();
        Rows8Args {
            nb,
            d,
            m,
            qs,
            acts,
            n,
        }
    }

    /// As [`Rows8Args::q4_1`] for Q8_0 (256 bytes per block, `Acts8::qsum` read).
    pub fn q8_0(d: &'a [f32], qs: &'a [u8], acts: Acts8<'a>, outputs: usize) -> Self {
        let nb = d.len() / 8;
        assert!(d.len() == nb * 8 && qs.len() >= nb * 256);
        let n = outputs / 8;
        acts.check(nb, n);
        assert!(acts.qsum.len() >= n * nb);
        let (m, qs) = (&[][..], qs.as_ptr());
        Rows8Args {
            nb,
            d,
            m,
            qs,
            acts,
            n,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Kernels {
    pub name: &'static str,
    pub q4_1: RowQ41,
    pub q8_0: RowQ80,
    pub q4_1_i8: RowQ41I8,
    pub q8_0_i8: RowQ80I8,
    /// Integer-dot kernels over eight interleaved rows at once, where the
    /// variant has them: the matrices are then repacked at load (Int8 mode).
    pub rows8: Option<Rows8>,
}

/// A variant's kernels over eight row-interleaved weight rows.
#[derive(Clone, Copy)]
pub struct Rows8 {
    pub q4_1: Rows8Q41,
    pub q8_0: Rows8Q80,
}

/// The canonical lane combination.
#[inline(always)]
pub fn combine(acc: [f32; 8]) -> f32 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}
