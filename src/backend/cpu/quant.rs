//! Quantized matrices repacked at load for SIMD dot products, and the
//! activation quantizer. Same arithmetic as llama.cpp's CPU path: Q4_1
//! weights against Q8_1 activations, Q8_0 weights against Q8_0 activations,
//! 32-wide blocks with f16-rounded activation scales.

use half::f16;

use super::kernels;
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
        if cols % BLOCK != 0 || raw.len() != nb * 20 {
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
        if cols % BLOCK != 0 || raw.len() != nb * 34 {
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

/// Activations quantized to 8 bits per 32-block: scale `d`, and `s = d * Σq`
/// (the Q8_1 term that carries Q4_1's minimum), both rounded through f16.
#[derive(Default)]
pub struct Q8Acts {
    pub n: usize,
    pub cols: usize,
    pub d: Vec<f32>,
    pub s: Vec<f32>,
    pub qs: Vec<i8>,
}

impl Q8Acts {
    /// Quantizes `n` vectors of `cols` values (row-major `x`).
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        let n = x.len() / cols;
        let nb = x.len() / BLOCK;
        self.n = n;
        self.cols = cols;
        self.d.clear();
        self.s.clear();
        self.qs.clear();
        self.qs.reserve(x.len());
        for block in x.chunks_exact(BLOCK) {
            let amax = block.iter().fold(0f32, |a, &v| a.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let mut sum = 0i32;
            for &v in block {
                let q = (v * id).round() as i32;
                sum += q;
                self.qs.push(q as i8);
            }
            self.d.push(f16::from_f32(d).to_f32());
            self.s.push(f16::from_f32(d * sum as f32).to_f32());
        }
        debug_assert_eq!(self.d.len(), nb);
    }
}

/// `out[t, r] = Σ_c w[r, c] x[t, c]` for every activation vector t.
pub fn matmul_q4_1(w: &Q41Matrix, a: &Q8Acts, out: &mut [f32]) {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    for r in 0..w.rows {
        let (wd, wm) = (&w.d[r * nb..(r + 1) * nb], &w.m[r * nb..(r + 1) * nb]);
        let wq = &w.qs[r * nb * 16..(r + 1) * nb * 16];
        for t in 0..a.n {
            let (ad, as_) = (&a.d[t * nb..(t + 1) * nb], &a.s[t * nb..(t + 1) * nb]);
            let aq = &a.qs[t * w.cols..(t + 1) * w.cols];
            out[t * w.rows + r] = kernels::dot_q4_1(k, wd, wm, wq, ad, as_, aq);
        }
    }
}

/// As [`matmul_q4_1`] for a Q8_0 matrix.
pub fn matmul_q8_0(w: &Q80Matrix, a: &Q8Acts, out: &mut [f32]) {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    for r in 0..w.rows {
        let wd = &w.d[r * nb..(r + 1) * nb];
        let wq = &w.qs[r * w.cols..(r + 1) * w.cols];
        for t in 0..a.n {
            let ad = &a.d[t * nb..(t + 1) * nb];
            let aq = &a.qs[t * w.cols..(t + 1) * w.cols];
            out[t * w.rows + r] = kernels::dot_q8_0(k, wd, wq, ad, aq);
        }
    }
}
