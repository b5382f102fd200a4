//! The llama weights on the GPU, uploaded once in quantized form: Q4_1
//! matrices as the GGUF stores them (20-byte blocks = 5 words: f16 d, f16 m,
//! 16 nibble bytes), Q8_0 repacked to 9 words per block (f32 d, 32 bytes)
//! because WGSL reads storage in 4-byte words. Q, K and V are concatenated
//! into one matrix, gate and up into another, so each is one dispatch.
//! Norm gains (f32) share one buffer.

use candle_core::quantized::GgmlDType;
use half::f16;

use super::device::{Buf, Gpu};
use crate::model::{GgufFile, LlamaConfig};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QType {
    Q41,
    Q80,
}

impl QType {
    /// Bytes per 32-element block on the GPU.
    pub(super) fn block_bytes(self) -> u64 {
        match self {
            QType::Q41 => 20,
            QType::Q80 => 36,
        }
    }
}

/// A `[rows, cols]` matrix applied as `y = x W^T`.
pub(super) struct GpuMatrix {
    pub qtype: QType,
    pub rows: usize,
    pub cols: usize,
    pub buf: Buf,
}

impl GpuMatrix {
    pub(super) fn bytes(&self) -> u64 {
        (self.rows * self.cols / 32) as u64 * self.qtype.block_bytes()
    }
}

pub(super) struct GpuLayer {
    /// Rows: q (hidden) | k (kv_dim) | v (kv_dim).
    pub qkv: GpuMatrix,
    pub wo: GpuMatrix,
    /// Rows: gate (ffn) | up (ffn).
    pub gate_up: GpuMatrix,
    pub down: GpuMatrix,
    /// Offsets of the norm gains in `GpuWeights::norms` (floats).
    pub attn_norm: usize,
    pub ffn_norm: usize,
}

pub(super) struct GpuWeights {
    pub embed: GpuMatrix,
    /// `None`: tied to the embedding.
    pub output: Option<GpuMatrix>,
    pub output_norm: usize,
    pub norms: Buf,
    pub layers: Vec<GpuLayer>,
}

/// GPU-layout bytes of one quantized tensor, checked against its shape.
fn tensor_bytes(file: &GgufFile, name: &str, shape: [usize; 2]) -> Result<(QType, Vec<u8>)> {
    let raw = file.raw(name)?;
    if raw.dims != shape {
        return Err(Error::UnsupportedModel(format!(
            "tensor {name} has shape {:?}, this model's config needs {shape:?}",
            raw.dims
        )));
    }
    match raw.dtype {
        GgmlDType::Q4_1 => Ok((QType::Q41, raw.data.to_vec())),
        GgmlDType::Q8_0 => {
            let mut out = Vec::with_capacity(raw.data.len() / 34 * 36);
            for block in raw.data.chunks_exact(34) {
                let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
                out.extend_from_slice(&d.to_le_bytes());
                out.extend_from_slice(&block[2..34]);
            }
            Ok((QType::Q80, out))
        }
        other => Err(Error::UnsupportedModel(format!(
            "tensor {name} is {other:?}; the WebGPU backend reads Q4_1 and Q8_0 matrices (use the CPU backend for other types)"
        ))),
    }
}

/// Uploads the row-wise concatenation of same-typed tensors as one matrix.
fn matrix(gpu: &Gpu, file: &GgufFile, parts: &[(&str, [usize; 2])]) -> Result<GpuMatrix> {
    let mut bytes = Vec::new();
    let mut qtype = None;
    let mut rows = 0;
    let cols = parts[0].1[1];
    for &(name, shape) in parts {
        let (q, b) = tensor_bytes(file, name, shape)?;
        if qtype.is_some_and(|t| t != q) || shape[1] != cols {
            return Err(Error::UnsupportedModel(format!(
                "{} mix quantization types or widths; the WebGPU backend fuses them into one matrix",
                parts.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
            )));
        }
        qtype = Some(q);
        rows += shape[0];
        bytes.extend_from_slice(&b);
    }
    let label = parts[0].0;
    Ok(GpuMatrix {
        qtype: qtype.expect("at least one part"),
        rows,
        cols,
        buf: gpu.storage_init(label, &bytes)?,
    })
}

fn norm(file: &GgufFile, name: &str, len: usize, into: &mut Vec<f32>) -> Result<usize> {
    let raw = file.raw(name)?;
    if raw.dims.iter().product::<usize>() != len {
        return Err(Error::UnsupportedModel(format!(
            "tensor {name} has shape {:?}, expected [{len}]",
            raw.dims
        )));
    }
    let at = into.len();
    into.extend(file.dequantize(name)?);
    Ok(at)
}

impl GpuWeights {
    pub(super) fn upload(gpu: &Gpu, file: &GgufFile, c: &LlamaConfig) -> Result<Self> {
        let (h, kv, f) = (c.hidden, c.kv_dim(), c.ffn);
        let mut norms = Vec::new();
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let n = |t: &str| format!("blk.{i}.{t}.weight");
            layers.push(GpuLayer {
                qkv: matrix(
                    gpu,
                    file,
                    &[
                        (&n("attn_q"), [h, h]),
                        (&n("attn_k"), [kv, h]),
                        (&n("attn_v"), [kv, h]),
                    ],
                )?,
                wo: matrix(gpu, file, &[(&n("attn_output"), [h, h])])?,
                gate_up: matrix(
                    gpu,
                    file,
                    &[(&n("ffn_gate"), [f, h]), (&n("ffn_up"), [f, h])],
                )?,
                down: matrix(gpu, file, &[(&n("ffn_down"), [h, f])])?,
                attn_norm: norm(file, &n("attn_norm"), h, &mut norms)?,
                ffn_norm: norm(file, &n("ffn_norm"), h, &mut norms)?,
            });
        }
        let output_norm = norm(file, "output_norm.weight", h, &mut norms)?;
        let output = if file.has_tensor("output.weight") {
            Some(matrix(gpu, file, &[("output.weight", [c.vocab, h])])?)
        } else {
            None
        };
        let bytes: Vec<u8> = norms.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Self {
            embed: matrix(gpu, file, &[("token_embd.weight", [c.vocab, h])])?,
            output,
            output_norm,
            norms: gpu.storage_init("norms", &bytes)?,
            layers,
        })
    }

    pub(super) fn output(&self) -> &GpuMatrix {
        self.output.as_ref().unwrap_or(&self.embed)
    }

    /// Bytes of weight data on the GPU.
    pub(super) fn bytes(&self) -> u64 {
        let layers: u64 = self
            .layers
            .iter()
            .map(|l| l.qkv.bytes() + l.wo.bytes() + l.gate_up.bytes() + l.down.bytes())
            .sum();
        layers
            + self.embed.bytes()
            + self.output.as_ref().map_or(0, |o| o.bytes())
            + self.norms.size
    }
}
