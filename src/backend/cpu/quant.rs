//! Quantized matrices repacked at load (scales as f32, quants contiguous,
//! row after row or row-interleaved for the eight-row kernels) and their
//! products: the weights stay 4.5 / 8.5 bits in memory; the
//! activations go in as f32 (the dequantized model's arithmetic) or rounded
//! to 8 bits for integer dot products (see `kernels`).

use half::f16;

use super::interleave;
use super::kernels;
use super::threads::Threads;
use crate::{Error, Result};

pub const BLOCK: usize = 32;

/// A Q4_1 matrix `[rows, cols]`: per 32-block a scale `d`, a minimum `m` and
/// 16 bytes of nibbles (byte j holds element j low and element j+16 high),
/// row after row, or `interleaved` (`cpu::interleave`).
pub struct Q41Matrix {
    pub rows: usize,
    pub cols: usize,
    pub d: Vec<f32>,
    pub m: Vec<f32>,
    pub qs: Vec<u8>,
    pub interleaved: bool,
}

/// A Q8_0 matrix `[rows, cols]`: per 32-block a scale and 32 signed bytes,
/// row after row, or `interleaved` (`cpu::interleave`).
pub struct Q80Matrix {
    pub rows: usize,
    pub cols: usize,
    pub d: Vec<f32>,
    pub qs: Vec<i8>,
    pub interleaved: bool,
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
            interleaved: false,
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
            let (s, byte) = match self.interleaved {
                false => (r * nb + b, (r * nb + b) * 16),
                true => (interleave::scale_at(nb, r, b), 0),
            };
            let (d, m) = (self.d[s], self.m[s]);
            for j in 0..16 {
                let q = match self.interleaved {
                    false => self.qs[byte + j],
                    true => self.qs[interleave::q4_1_byte_at(nb, r, b, j)],
                };
                out[b * BLOCK + j] = d * (q & 15) as f32 + m;
                out[b * BLOCK + j + 16] = d * (q >> 4) as f32 + m;
            }
        }
    }

    /// Repacks the matrix into the row-interleaved layout (`cpu::interleave`).
    pub fn interleave(&mut self) {
        assert!(interleave::fits(self.rows) && !self.interleaved);
        let nb = self.cols / BLOCK;
        self.d = interleave::per_block(nb, self.rows, &self.d);
        self.m = interleave::per_block(nb, self.rows, &self.m);
        self.qs = interleave::q4_1_bytes(nb, self.rows, &self.qs);
        self.interleaved = true;
    }
}

impl Q80Matrix {
    /// Repacks the matrix into the row-interleaved layout (`cpu::interleave`).
    pub fn interleave(&mut self) {
        assert!(interleave::fits(self.rows) && !self.interleaved);
        let nb = self.cols / BLOCK;
        self.d = interleave::per_block(nb, self.rows, &self.d);
        self.qs = interleave::q8_0_bytes(nb, self.rows, &self.qs);
        self.interleaved = true;
    }

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
            interleaved: false,
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
            for e in 0..BLOCK {
                out[b * BLOCK + e] = match self.interleaved {
                    false => self.d[i] * self.qs[i * BLOCK + e] as f32,
                    true => {
                        let q = self.qs[interleave::q8_0_at(nb, r, b, e)];
                        self.d[interleave::scale_at(nb, r, b)] * interleave::q8_0_weight(q) as f32
                    }
                };
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
/// the 8-bit blocks (and their integer sums, where an interleaved Q8_0
/// matrix reads them). Kept across calls so a step allocates nothing.
pub struct Prepared {
    pub activations: Activations,
    sums: Vec<f32>,
    d: Vec<f32>,
    q: Vec<i8>,
    qsum: Vec<i32>,
}

/// What the matrices of one product read from the prepared activations.
#[derive(Clone, Copy)]
struct Needs {
    /// Per-block f32 sums (a Q4_1 matrix on f32 activations).
    sums: bool,
    /// Per-block integer sums (an interleaved Q8_0 matrix).
    qsums: bool,
}

impl Needs {
    fn of(ws: &[Quantized<'_>]) -> Self {
        Self {
            sums: ws.iter().any(|w| matches!(w, Quantized::Q41(_))),
            qsums: ws
                .iter()
                .any(|w| matches!(w, Quantized::Q80(m) if m.interleaved)),
        }
    }
}

impl Prepared {
    pub fn new(activations: Activations) -> Self {
        Self {
            activations,
            sums: Vec::new(),
            d: Vec::new(),
            q: Vec::new(),
            qsum: Vec::new(),
        }
    }

    /// Prepares `x` (whole 32-blocks) for matrices with these needs (the
    /// integer dots' f32 sums come with the quantization).
    fn prepare(&mut self, x: &[f32], needs: Needs) {
        let nb = x.len() / BLOCK;
        match self.activations {
            Activations::F32 if needs.sums => {
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
                self.qsum.clear();
                if needs.qsums {
                    self.qsum.extend(
                        self.q
                            .chunks_exact(BLOCK)
                            .map(|b| b.iter().map(|&v| v as i32).sum::<i32>()),
                    );
                }
            }
        }
    }

    fn int8(&self) -> Option<kernels::Acts8<'_>> {
        (self.activations == Activations::Int8).then_some(kernels::Acts8 {
            d: &self.d,
            s: &self.sums,
            q: &self.q,
            qsum: &self.qsum,
        })
    }
}

/// Weight rows `r0..r0 + group` of a Q4_1 product: `out[i·n + t] = Σ_c
/// w[r0 + i, c] x[t, c]` for the `n` vectors of `x` (prepared in `prep`);
/// an interleaved matrix takes its eight rows in one kernel call.
fn q4_1_rows<'a>(
    w: &'a Q41Matrix,
    x: &'a [f32],
    prep: &'a Prepared,
    group: usize,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    let int8 = prep.int8();
    let rows8 = interleaved_kernels(w.interleaved, group, int8.is_some());
    move |r0, out| {
        if let (Some(rows8), Some(acts)) = (rows8, int8) {
            let at = r0 / interleave::ROWS * nb;
            let (d, m) = (&w.d[at * 8..(at + nb) * 8], &w.m[at * 8..(at + nb) * 8]);
            return (rows8.q4_1)(d, m, &w.qs[at * 128..(at + nb) * 128], acts, out);
        }
        let n = out.len() / group;
        for (r, row_out) in (r0..).zip(out.chunks_exact_mut(n)) {
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
}

/// The active variant's eight-row kernels where the matrix is interleaved
/// (which the loader does only in Int8 mode, for a variant that has them).
fn interleaved_kernels(interleaved: bool, group: usize, int8: bool) -> Option<kernels::Rows8> {
    if !interleaved {
        return None;
    }
    assert!(
        int8 && group == interleave::ROWS,
        "an interleaved matrix takes 8-bit activations, eight rows at a time"
    );
    Some(
        kernels::active()
            .rows8
            .expect("matrices are interleaved only for kernels that read them"),
    )
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

/// Weight rows `r0..r0 + group` of a Q8_0 product (as [`q4_1_rows`]).
fn q8_0_rows<'a>(
    w: &'a Q80Matrix,
    x: &'a [f32],
    prep: &'a Prepared,
    group: usize,
) -> impl Fn(usize, &mut [f32]) + Sync + 'a {
    let nb = w.cols / BLOCK;
    let k = kernels::active();
    let int8 = prep.int8();
    let rows8 = interleaved_kernels(w.interleaved, group, int8.is_some());
    move |r0, out| {
        if let (Some(rows8), Some(acts)) = (rows8, int8) {
            let at = r0 / interleave::ROWS * nb;
            let qs = &w.qs[at * 256..(at + nb) * 256];
            // SAFETY: i8 and u8 have the same size and alignment.
            let qs = unsafe { std::slice::from_raw_parts(qs.as_ptr() as *const u8, qs.len()) };
            return (rows8.q8_0)(&w.d[at * 8..(at + nb) * 8], qs, acts, out);
        }
        let n = out.len() / group;
        for (r, row_out) in (r0..).zip(out.chunks_exact_mut(n)) {
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
}

/// Rows `r0..r0 + group` of one product (`q4_1_rows`, `q8_0_rows`).
type RowsFn<'a> = Box<dyn Fn(usize, &mut [f32]) + Sync + 'a>;

/// A quantized matrix of either kind.
#[derive(Clone, Copy)]
pub enum Quantized<'a> {
    Q41(&'a Q41Matrix),
    Q80(&'a Q80Matrix),
}

impl<'a> Quantized<'a> {
    fn rows(&self) -> usize {
        match self {
            Quantized::Q41(w) => w.rows,
            Quantized::Q80(w) => w.rows,
        }
    }

    fn cols(&self) -> usize {
        match self {
            Quantized::Q41(w) => w.cols,
            Quantized::Q80(w) => w.cols,
        }
    }

    fn interleaved(&self) -> bool {
        match self {
            Quantized::Q41(w) => w.interleaved,
            Quantized::Q80(w) => w.interleaved,
        }
    }

    fn rows_fn(self, x: &'a [f32], prep: &'a Prepared, group: usize) -> RowsFn<'a> {
        match self {
            Quantized::Q41(w) => Box::new(q4_1_rows(w, x, prep, group)),
            Quantized::Q80(w) => Box::new(q8_0_rows(w, x, prep, group)),
        }
    }
}

/// The rows a product's kernels take at once: eight where its matrices
/// are interleaved (the loader interleaves all of a model's or none).
fn group_of(ws: &[Quantized<'_>]) -> usize {
    let interleaved = ws.iter().filter(|w| w.interleaved()).count();
    assert!(
        interleaved == 0 || interleaved == ws.len(),
        "a product's matrices share one layout"
    );
    if interleaved > 0 {
        interleave::ROWS
    } else {
        1
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
    let n = x.len() / ws[0].cols();
    let group = group_of(ws);
    prep.prepare(x, Needs::of(ws));
    let prep = &*prep;
    let rows: Vec<usize> = ws.iter().map(Quantized::rows).collect();
    let total: usize = rows.iter().sum();
    let fns: Vec<RowsFn<'_>> = ws.iter().map(|w| w.rows_fn(x, prep, group)).collect();
    let starts: Vec<usize> = rows
        .iter()
        .scan(0, |s, &r| {
            let at = *s;
            *s += r;
            Some(at)
        })
        .collect();
    let mut all = vec![0f32; n * total];
    threads.rows(total, n, group, &mut all, |r0, out| {
        let i = starts.partition_point(|&s| s <= r0) - 1;
        fns[i](r0 - starts[i], out)
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
pub fn matmul(
    w: Quantized<'_>,
    x: &[f32],
    out: &mut [f32],
    prep: &mut Prepared,
    threads: &Threads,
) {
    let group = group_of(&[w]);
    prep.prepare(x, Needs::of(&[w]));
    let f = w.rows_fn(x, prep, group);
    threads.rows(w.rows(), x.len() / w.cols(), group, out, f);
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::backend::cpu::kernels::{scalar, variants, Acts8};

    fn q4(rows: usize, cols: usize, seed: u64) -> Q41Matrix {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let nb = rows * cols / BLOCK;
        Q41Matrix {
            rows,
            cols,
            d: (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect(),
            m: (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect(),
            qs: (0..nb * 16).map(|_| rng.random()).collect(),
            interleaved: false,
        }
    }

    fn q8(rows: usize, cols: usize, seed: u64) -> Q80Matrix {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let nb = rows * cols / BLOCK;
        let mut qs: Vec<i8> = (0..nb * BLOCK).map(|_| rng.random()).collect();
        qs[5] = -128;
        qs[6] = 127;
        Q80Matrix {
            rows,
            cols,
            d: (0..nb).map(|_| rng.random_range(-0.1..0.1)).collect(),
            qs,
            interleaved: false,
        }
    }

    #[test]
    fn interleaved_rows_dequantize_as_before() {
        for (rows, cols) in [(8, 32), (16, 96), (24, 576)] {
            let plain = q4(rows, cols, 1);
            let mut packed = q4(rows, cols, 1);
            packed.interleave();
            let plain8 = q8(rows, cols, 2);
            let mut packed8 = q8(rows, cols, 2);
            packed8.interleave();
            let (mut want, mut got) = (vec![0f32; cols], vec![0f32; cols]);
            for r in 0..rows {
                plain.dequantize_row(r, &mut want);
                packed.dequantize_row(r, &mut got);
                assert_eq!(want, got, "q4_1 row {r}");
                plain8.dequantize_row(r, &mut want);
                packed8.dequantize_row(r, &mut got);
                assert_eq!(want, got, "q8_0 row {r}");
            }
        }
    }

    /// The eight-row kernels on interleaved matrices give every row the
    /// scalar reference's bits (`kernels/mod.rs`: the canonical order).
    #[test]
    fn every_rows8_kernel_equals_the_scalar_row_kernels_bit_for_bit() {
        let mut tested = 0;
        for k in variants() {
            let Some(rows8) = k.rows8 else { continue };
            tested += 1;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
            for (nb, n) in [
                (1usize, 1usize),
                (2, 3),
                (8, 2),
                (9, 1),
                (16, 4),
                (18, 5),
                (48, 3),
            ] {
                let (rows, cols) = (16, nb * BLOCK);
                let plain = q4(rows, cols, nb as u64);
                let mut packed = q4(rows, cols, nb as u64);
                packed.interleave();
                let plain8 = q8(rows, cols, nb as u64);
                let mut packed8 = q8(rows, cols, nb as u64);
                packed8.interleave();
                let ad: Vec<f32> = (0..n * nb).map(|_| rng.random_range(0.0..0.05)).collect();
                let sums: Vec<f32> = (0..n * nb).map(|_| rng.random_range(-2.0..2.0)).collect();
                let mut aq: Vec<i8> = (0..n * nb * 32)
                    .map(|_| rng.random_range(-127..=127))
                    .collect();
                aq[0] = -127;
                aq[1] = 127;
                let qsum: Vec<i32> = aq
                    .chunks_exact(BLOCK)
                    .map(|b| b.iter().map(|&v| v as i32).sum())
                    .collect();
                let acts = Acts8 {
                    d: &ad,
                    s: &sums,
                    q: &aq,
                    qsum: &qsum,
                };
                let mut want = vec![0f32; n];
                let mut got = vec![0f32; 8 * n];
                for g in 0..rows / interleave::ROWS {
                    let at = g * nb;
                    (rows8.q4_1)(
                        &packed.d[at * 8..(at + nb) * 8],
                        &packed.m[at * 8..(at + nb) * 8],
                        &packed.qs[at * 128..(at + nb) * 128],
                        acts,
                        &mut got,
                    );
                    for i in 0..interleave::ROWS {
                        let r = g * interleave::ROWS + i;
                        let s = r * nb..(r + 1) * nb;
                        let qs = &plain.qs[r * nb * 16..(r + 1) * nb * 16];
                        scalar::row_q4_1_i8(&plain.d[s.clone()], &plain.m[s], qs, acts, &mut want);
                        let row: Vec<f32> = (0..n).map(|t| got[i * n + t]).collect();
                        assert_eq!(want, row, "{} q4_1 nb={nb} n={n} row {r}", k.name);
                    }
                    let qs8: Vec<u8> = packed8.qs[at * 256..(at + nb) * 256]
                        .iter()
                        .map(|&v| v as u8)
                        .collect();
                    (rows8.q8_0)(&packed8.d[at * 8..(at + nb) * 8], &qs8, acts, &mut got);
                    for i in 0..interleave::ROWS {
                        let r = g * interleave::ROWS + i;
                        let qs = &plain8.qs[r * cols..(r + 1) * cols];
                        scalar::row_q8_0_i8(&plain8.d[r * nb..(r + 1) * nb], qs, acts, &mut want);
                        let row: Vec<f32> = (0..n).map(|t| got[i * n + t]).collect();
                        assert_eq!(want, row, "{} q8_0 nb={nb} n={n} row {r}", k.name);
                    }
                }
            }
        }
        // A CPU with AVX-512 VNNI runs them (this project's machines do).
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
            assert!(tested > 0);
        }
        let _ = tested;
    }
}
