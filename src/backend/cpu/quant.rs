//! Quantized matrices repacked at load (scales as f32, quants contiguous)
//! and their products: the weights stay 4.5 / 8.5 bits in memory; the
//! activations go in as f32 (the dequantized model's arithmetic) or rounded
//! to 8 bits for integer dot products (see `kernels`).

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

/// How the quantized products take their activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activations {
    /// As f32: the dequantized model's exact math.
    F32,
    /// Rounded to 8 bits per 32-block, integer dot products (`kernels`).
    Int8,
}

/// What a product prepares from its activations once, before any weight
/// row: per 32-block sums (Q4_1's minimum term) and, for the integer dots,
/// the 8-bit blocks. Kept across calls so a step allocates nothing.
pub struct Prepared {
    pub activations: Activations,
    sums: Vec<f32>,
    d: Vec<f32>,
    q: Vec<i8>,
}

impl Prepared {
    pub fn new(activations: Activations) -> Self {
        Self {
            activations,
            sums: Vec::new(),
            d: Vec::new(),
            q: Vec::new(),
        }
    }

    /// Prepares `x` (whole 32-blocks); `sums` only when a Q4_1 matrix reads
    /// them (the integer dots' come with the quantization).
    fn prepare(&mut self, x: &[f32], sums: bool) {
        let nb = x.len() / BLOCK;
        match self.activations {
            Activations::F32 if sums => {
                self.sums.clear();
                self.sums
                    .extend(x.chunks_exact(BLOCK).map(|b| b.iter().sum::<f32>()));
            }
            Activations::F32 => {}
            Activations::Int8 => {
                self.d.resize(nb, 0.0);
                self.sums.resize(nb, 0.0);
                self.q.resize(nb * BLOCK, 0);
                // The minimum term reads the 8-bit blocks' own sums, so the
                // weights' offset meets the same activations as their scales
                // (tried: with exact f32 sums no greedy fixture case agreed
                // with llama.cpp for 64 tokens, against 3 of 5, and the mean
                // top-1 gap grew from 0.030 to 0.040 nats).
                kernels::scalar::quantize_q8(x, &mut self.d, &mut self.sums, &mut self.q);
            }
        }
    }

    fn int8(&self) -> Option<kernels::Acts8<'_>> {
        (self.activations == Activations::Int8).then_some(kernels::Acts8 {
            d: &self.d,
            s: &self.sums,
            q: &self.q,
        })
    }
}

/// One output row of a Q4_1 product: `row_out[t] = Σ_c w[r, c] x[t, c]`
/// for the `n` vectors of `x` (prepared in `prep`).
fn q4_1_row<'a>(
    w: &'a Q41Matrix,
    x: &'a [f32],
    prep: &'a Prepared,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    let int8 = prep.int8();
    move |r, row_out| {
        let (d, m) = (&w.d[r * nb..(r + 1) * nb], &w.m[r * nb..(r + 1) * nb]);
        let qs = &w.qs[r * nb * 16..(r + 1) * nb * 16];
        match int8 {
            // The integer dots add the minimum term in their own lanes.
            Some(acts) => (k.q4_1_i8)(d, m, qs, acts, row_out),
            None => {
                (k.q4_1)(d, qs, x, w.cols, row_out);
                for (t, v) in row_out.iter_mut().enumerate() {
                    *v += min_term(m, &prep.sums[t * nb..(t + 1) * nb]);
                }
            }
        }
    }
}

/// Q4_1's minimum term `Σ_b m_b·sums_b`, block `b` in lane `b % 8` (eight
/// blocks at a time, so it vectorizes), combined canonically.
#[inline(always)]
fn min_term(m: &[f32], sums: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let full = m.len() / 8 * 8;
    for (mc, sc) in m[..full].chunks_exact(8).zip(sums[..full].chunks_exact(8)) {
        for j in 0..8 {
            acc[j] += mc[j] * sc[j];
        }
    }
    for (j, (&mb, &sb)) in m[full..].iter().zip(&sums[full..]).enumerate() {
        acc[j] += mb * sb;
    }
    kernels::combine(acc)
}

/// One output row of a Q8_0 product.
fn q8_0_row<'a>(
    w: &'a Q80Matrix,
    x: &'a [f32],
    prep: &'a Prepared,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    let int8 = prep.int8();
    move |r, row_out| {
        let (d, qs) = (
            &w.d[r * nb..(r + 1) * nb],
            &w.qs[r * w.cols..(r + 1) * w.cols],
        );
        match int8 {
            Some(acts) => (k.q8_0_i8)(d, qs, acts, row_out),
            None => (k.q8_0)(d, qs, x, w.cols, row_out),
        }
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
    prep: &mut Prepared,
    threads: &Threads,
) {
    let cols = match ws[0] {
        Quantized::Q41(w) => w.cols,
        Quantized::Q80(w) => w.cols,
    };
    let n = x.len() / cols;
    prep.prepare(x, ws.iter().any(|w| matches!(w, Quantized::Q41(_))));
    let prep = &*prep;
    let rows: Vec<usize> = ws.iter().map(Quantized::rows).collect();
    let total: usize = rows.iter().sum();
    let fns: Vec<RowFn<'_>> = ws
        .iter()
        .map(|w| -> RowFn<'_> {
            match *w {
                Quantized::Q41(w) => Box::new(q4_1_row(w, x, prep)),
                Quantized::Q80(w) => Box::new(q8_0_row(w, x, prep)),
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
    prep: &mut Prepared,
    threads: &Threads,
) {
    prep.prepare(x, true);
    threads.rows(w.rows, x.len() / w.cols, out, q4_1_row(w, x, prep));
}

/// As [`matmul_q4_1`] for a Q8_0 matrix.
pub fn matmul_q8_0(
    w: &Q80Matrix,
    x: &[f32],
    out: &mut [f32],
    prep: &mut Prepared,
    threads: &Threads,
) {
    prep.prepare(x, false);
    threads.rows(w.rows, x.len() / w.cols, out, q8_0_row(w, x, prep));
}
