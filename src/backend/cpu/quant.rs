//! Quantized matrices repacked at load (scales as f32, quants contiguous)
//! and their products with f32 activations: the weights stay 4.5 / 8.5 bits
//! in memory, the arithmetic is the dequantized model's (see `kernels`).

use half::f16;

use super::kernels;
use super::threads::Threads;
use crate::{Error, Result};

pub const BLOCK: usize = 32;

/// A Q4_1 matrix `[rows, cols]`: per 32-block a scale `d`, a minimum `m` and
/// 16 bytes of nibbles (byte j holds element j low and element j+16 high).
pub struct Q41Matrix {
    pub rows: usize,
    pub cols: usize,
    pub d: Vec<f32>,
    pub m: Vec<f32>,
    pub qs: Vec<u8>,
}

/// A Q8_0 matrix `[rows, cols]`: per 32-block a scale and 32 signed bytes.
pub struct Q80Matrix {
    pub rows: usize,
    pub cols: usize,
    pub d: Vec<f32>,
    pub qs: Vec<i8>,
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

impl Q41Matrix {
    /// Repacks GGUF Q4_1 blocks (`f16 d, f16 m, 16 bytes`).
    pub fn from_gguf(rows: usize, cols: usize, raw: &[u8]) -> Result<Self> {
        let nb = rows * cols / BLOCK;
        if !cols.is_multiple_of(BLOCK) || raw.len() != nb * 20 {
            return Err(Error::UnsupportedModel(format!(
                "Q4_1 tensor [{rows}, {cols}] has {} bytes, expected {}",
                raw.len(),
                nb * 20
            )));
        }
        let mut out = Self {
            rows,
            cols,
            d: Vec::with_capacity(nb),
            m: Vec::with_capacity(nb),
            qs: Vec::with_capacity(nb * 16),
        };
        for block in raw.chunks_exact(20) {
            out.d.push(f16_at(block, 0));
            out.m.push(f16_at(block, 2));
            out.qs.extend_from_slice(&block[4..20]);
        }
        Ok(out)
    }

    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let nb = self.cols / BLOCK;
        for b in 0..nb {
            let i = r * nb + b;
            let q = &self.qs[i * 16..i * 16 + 16];
            for j in 0..16 {
                out[b * BLOCK + j] = self.d[i] * (q[j] & 15) as f32 + self.m[i];
                out[b * BLOCK + j + 16] = self.d[i] * (q[j] >> 4) as f32 + self.m[i];
            }
        }
    }
}

impl Q80Matrix {
    /// Repacks GGUF Q8_0 blocks (`f16 d, 32 i8`).
    pub fn from_gguf(rows: usize, cols: usize, raw: &[u8]) -> Result<Self> {
        let nb = rows * cols / BLOCK;
        if !cols.is_multiple_of(BLOCK) || raw.len() != nb * 34 {
            return Err(Error::UnsupportedModel(format!(
                "Q8_0 tensor [{rows}, {cols}] has {} bytes, expected {}",
                raw.len(),
                nb * 34
            )));
        }
        let mut out = Self {
            rows,
            cols,
            d: Vec::with_capacity(nb),
            qs: Vec::with_capacity(nb * BLOCK),
        };
        for block in raw.chunks_exact(34) {
            out.d.push(f16_at(block, 0));
            out.qs.extend(block[2..34].iter().map(|&b| b as i8));
        }
        Ok(out)
    }

    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let nb = self.cols / BLOCK;
        for b in 0..nb {
            let i = r * nb + b;
            for j in 0..BLOCK {
                out[b * BLOCK + j] = self.d[i] * self.qs[i * BLOCK + j] as f32;
            }
        }
    }
}

/// Per 32-block sums of each activation vector (Q4_1's minimum term).
fn block_sums(x: &[f32], out: &mut Vec<f32>) {
    out.clear();
    out.extend(x.chunks_exact(BLOCK).map(|b| b.iter().sum::<f32>()));
}

/// `out[t, r] = Σ_c w[r, c] x[t, c]` for the `n` row vectors of `x`, the
/// weight rows shared out across `threads`.
pub fn matmul_q4_1(
    w: &Q41Matrix,
    x: &[f32],
    out: &mut [f32],
    scratch: &mut Vec<f32>,
    threads: &Threads,
) {
    let nb = w.cols / BLOCK;
    let n = x.len() / w.cols;
    let k = kernels::active();
    block_sums(x, scratch);
    let sums = &scratch[..];
    threads.rows(w.rows, n, out, |r, row_out| {
        let (d, m) = (&w.d[r * nb..(r + 1) * nb], &w.m[r * nb..(r + 1) * nb]);
        (k.q4_1)(d, &w.qs[r * nb * 16..(r + 1) * nb * 16], x, w.cols, row_out);
        for (t, v) in row_out.iter_mut().enumerate() {
            let sums = &sums[t * nb..(t + 1) * nb];
            let mut acc = [0f32; 8];
            for (b, (&mb, &sb)) in m.iter().zip(sums).enumerate() {
                acc[b % 8] += mb * sb;
            }
            *v += kernels::combine(acc);
        }
    });
}

/// As [`matmul_q4_1`] for a Q8_0 matrix.
pub fn matmul_q8_0(w: &Q80Matrix, x: &[f32], out: &mut [f32], threads: &Threads) {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    threads.rows(w.rows, x.len() / w.cols, out, |r, row_out| {
        (k.q8_0)(
            &w.d[r * nb..(r + 1) * nb],
            &w.qs[r * w.cols..(r + 1) * w.cols],
            x,
            w.cols,
            row_out,
        );
    });
}
