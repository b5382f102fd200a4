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

/// One output row of a Q4_1 product: `row_out[t] = Σ_c w[r, c] x[t, c]`
/// for the `n` vectors of `x`, `sums` their per-block sums (`block_sums`).
fn q4_1_row<'a>(
    w: &'a Q41Matrix,
    x: &'a [f32],
    sums: &'a [f32],
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    move |r, row_out| {
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
    }
}

/// One output row of a Q8_0 product.
fn q8_0_row<'a>(w: &'a Q80Matrix, x: &'a [f32]) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    move |r, row_out| {
        (k.q8_0)(
            &w.d[r * nb..(r + 1) * nb],
            &w.qs[r * w.cols..(r + 1) * w.cols],
            x,
            w.cols,
            row_out,
        )
    }
}

/// One output row's computation (`q4_1_row`, `q8_0_row`).
type RowFn<'a> = Box<dyn Fn(usize, &mut [f32]) + Sync + 'a>;

/// A quantized matrix of either kind.
#[derive(Clone, Copy)]
pub enum Quantized<'a> {
    Q41(&'a Q41Matrix),
    Q80(&'a Q80Matrix),
}

impl Quantized<'_> {
    fn rows(&self) -> usize {
        match self {
            Quantized::Q41(w) => w.rows,
            Quantized::Q80(w) => w.rows,
        }
    }
}

/// `outs[i][t, r] = Σ_c W_i[r, c] x[t, c]` for matrices of the same input
/// width, in ONE parallel region over all their rows (fewer fork-joins per
/// layer: Q, K and V together; gate and up together). Each output element
/// is the same kernel call as a product alone.
pub fn matmul_many(
    ws: &[Quantized<'_>],
    x: &[f32],
    outs: &mut [&mut Vec<f32>],
    scratch: &mut Vec<f32>,
    threads: &Threads,
) {
    let cols = match ws[0] {
        Quantized::Q41(w) => w.cols,
        Quantized::Q80(w) => w.cols,
    };
    let n = x.len() / cols;
    if ws.iter().any(|w| matches!(w, Quantized::Q41(_))) {
        block_sums(x, scratch);
    }
    let sums = &scratch[..];
    let rows: Vec<usize> = ws.iter().map(Quantized::rows).collect();
    let total: usize = rows.iter().sum();
    let fns: Vec<RowFn<'_>> = ws
        .iter()
        .map(|w| -> RowFn<'_> {
            match *w {
                Quantized::Q41(w) => Box::new(q4_1_row(w, x, sums)),
                Quantized::Q80(w) => Box::new(q8_0_row(w, x)),
            }
        })
        .collect();
    let starts: Vec<usize> = rows
        .iter()
        .scan(0, |s, &r| {
            let at = *s;
            *s += r;
            Some(at)
        })
        .collect();
    let mut all = vec![0f32; n * total];
    threads.rows(total, n, &mut all, |r, row_out| {
        let i = starts.partition_point(|&s| s <= r) - 1;
        fns[i](r - starts[i], row_out)
    });
    for (i, out) in outs.iter_mut().enumerate() {
        out.clear();
        out.reserve(n * rows[i]);
        for t in 0..n {
            out.extend_from_slice(&all[t * total + starts[i]..t * total + starts[i] + rows[i]]);
        }
    }
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
    block_sums(x, scratch);
    threads.rows(w.rows, x.len() / w.cols, out, q4_1_row(w, x, scratch));
}

/// As [`matmul_q4_1`] for a Q8_0 matrix.
pub fn matmul_q8_0(w: &Q80Matrix, x: &[f32], out: &mut [f32], threads: &Threads) {
    threads.rows(w.rows, x.len() / w.cols, out, q8_0_row(w, x));
}
