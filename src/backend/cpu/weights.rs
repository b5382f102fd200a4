//! The llama weights as the CPU backend holds them: quantized matrices
//! repacked for the SIMD kernels, or (for exactness checks) dequantized to
//! f32 by candle and multiplied with candle's matmul.

use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};

use super::interleave;
use super::kernels;
use super::quant::{matmul, matmul_many, Activations, Prepared, Q41Matrix, Q80Matrix, Quantized};
use super::threads::Threads;
use crate::model::{GgufFile, LlamaConfig};
use crate::{Error, Result};

/// How the CPU backend keeps the matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WeightMode {
    /// As stored (Q4_1 / Q8_0), f32 activations widened against the weights
    /// in SIMD kernels: the dequantized model's math, the reference kernels.
    Quantized,
    /// As stored, activations rounded to 8 bits per 32-block (llama.cpp's Q8
    /// scheme) for integer dot products: the fastest path, the CLI's and the
    /// page's default. Its logits differ from the exact ones by a few
    /// hundredths of a nat, as llama.cpp's do.
    Int8,
    /// Dequantized to f32: slow and large, used to check the forward pass
    /// against a float64 reference.
    Dequantized,
}

/// A `[rows, cols]` weight matrix applied as `y = x W^T`.
pub enum Linear {
    Q41(Q41Matrix),
    Q80(Q80Matrix),
    Dense { rows: usize, cols: usize, w: Tensor },
}

fn backend_err(e: candle_core::Error) -> Error {
    Error::Backend(e.to_string())
}

impl Linear {
    pub fn from_gguf(
        file: &GgufFile,
        name: &str,
        shape: [usize; 2],
        mode: WeightMode,
    ) -> Result<Self> {
        let raw = file.raw(name)?;
        if raw.dims != shape {
            return Err(Error::UnsupportedModel(format!(
                "tensor {name} has shape {:?}, this model's config needs {shape:?}",
                raw.dims
            )));
        }
        let [rows, cols] = shape;
        match (mode, raw.dtype) {
            (WeightMode::Quantized | WeightMode::Int8, GgmlDType::Q4_1) => {
                Ok(Self::Q41(Q41Matrix::from_gguf(rows, cols, raw.data)?))
            }
            (WeightMode::Quantized | WeightMode::Int8, GgmlDType::Q8_0) => {
                Ok(Self::Q80(Q80Matrix::from_gguf(rows, cols, raw.data)?))
            }
            _ => {
                let values = file.dequantize(name)?;
                let w =
                    Tensor::from_vec(values, (rows, cols), &Device::Cpu).map_err(backend_err)?;
                Ok(Self::Dense { rows, cols, w })
            }
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Self::Q41(m) => m.rows,
            Self::Q80(m) => m.rows,
            Self::Dense { rows, .. } => *rows,
        }
    }

    pub fn cols(&self) -> usize {
        match self {
            Self::Q41(m) => m.cols,
            Self::Q80(m) => m.cols,
            Self::Dense { cols, .. } => *cols,
        }
    }

    /// Row `r` of the matrix in f32 (the embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<()> {
        match self {
            Self::Q41(m) => m.dequantize_row(r, out),
            Self::Q80(m) => m.dequantize_row(r, out),
            Self::Dense { w, .. } => {
                let v = w
                    .get(r)
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(backend_err)?;
                out.copy_from_slice(&v);
            }
        }
        Ok(())
    }

    /// `out = x W^T` for `x` holding `n` row vectors of `cols` values (the
    /// quantized products on `threads`).
    pub fn forward(
        &self,
        x: &[f32],
        out: &mut Vec<f32>,
        prep: &mut Prepared,
        threads: &Threads,
    ) -> Result<()> {
        let n = x.len() / self.cols();
        out.clear();
        out.resize(n * self.rows(), 0.0);
        match self {
            Self::Q41(m) => matmul(Quantized::Q41(m), x, out, prep, threads),
            Self::Q80(m) => matmul(Quantized::Q80(m), x, out, prep, threads),
            Self::Dense { cols, w, .. } => {
                let xt = Tensor::from_slice(x, (n, *cols), &Device::Cpu).map_err(backend_err)?;
                let y = xt
                    .matmul(&w.t().map_err(backend_err)?)
                    .and_then(|y| y.flatten_all())
                    .and_then(|y| y.to_vec1::<f32>())
                    .map_err(backend_err)?;
                out.copy_from_slice(&y);
            }
        }
        Ok(())
    }

    /// `outs[i] = x W_i^T` for several matrices of the same input: one
    /// parallel region when all are quantized (`quant::matmul_many`), else
    /// one product after the other. The same values either way.
    pub fn forward_all(
        ws: &[&Linear],
        x: &[f32],
        outs: &mut [&mut Vec<f32>],
        prep: &mut Prepared,
        threads: &Threads,
    ) -> Result<()> {
        let quantized: Option<Vec<Quantized<'_>>> = ws
            .iter()
            .map(|w| match w {
                Linear::Q41(m) => Some(Quantized::Q41(m)),
                Linear::Q80(m) => Some(Quantized::Q80(m)),
                Linear::Dense { .. } => None,
            })
            .collect();
        match quantized {
            Some(q) => matmul_many(&q, x, outs, prep, threads),
            None => {
                for (w, out) in ws.iter().zip(outs.iter_mut()) {
                    w.forward(x, out, prep, threads)?;
                }
            }
        }
        Ok(())
    }

    /// Bytes of weight data read by one forward call.
    pub fn weight_bytes(&self) -> usize {
        match self {
            Self::Q41(m) => m.qs.len() + 8 * m.d.len(),
            Self::Q80(m) => m.qs.len() + 4 * m.d.len(),
            Self::Dense { rows, cols, .. } => 4 * rows * cols,
        }
    }
}

pub struct LayerWeights {
    pub attn_norm: Vec<f32>,
    pub wq: Linear,
    pub wk: Linear,
    pub wv: Linear,
    pub wo: Linear,
    pub ffn_norm: Vec<f32>,
    pub w_gate: Linear,
    pub w_up: Linear,
    pub w_down: Linear,
}

pub struct CpuWeights {
    pub config: LlamaConfig,
    pub mode: WeightMode,
    pub embed: Linear,
    /// `None` when the output projection is tied to the embedding.
    pub output: Option<Linear>,
    pub output_norm: Vec<f32>,
    pub layers: Vec<LayerWeights>,
}

fn norm(file: &GgufFile, name: &str, len: usize) -> Result<Vec<f32>> {
    let raw = file.raw(name)?;
    if raw.dims.iter().product::<usize>() != len {
        return Err(Error::UnsupportedModel(format!(
            "tensor {name} has shape {:?}, expected [{len}]",
            raw.dims
        )));
    }
    file.dequantize(name)
}

impl CpuWeights {
    pub fn load(file: &GgufFile, config: &LlamaConfig, mode: WeightMode) -> Result<Self> {
        let (h, kv, f) = (config.hidden, config.kv_dim(), config.ffn);
        let layers = (0..config.n_layer)
            .map(|i| {
                let name = |t: &str| format!("blk.{i}.{t}.weight");
                Ok(LayerWeights {
                    attn_norm: norm(file, &name("attn_norm"), h)?,
                    wq: Linear::from_gguf(file, &name("attn_q"), [h, h], mode)?,
                    wk: Linear::from_gguf(file, &name("attn_k"), [kv, h], mode)?,
                    wv: Linear::from_gguf(file, &name("attn_v"), [kv, h], mode)?,
                    wo: Linear::from_gguf(file, &name("attn_output"), [h, h], mode)?,
                    ffn_norm: norm(file, &name("ffn_norm"), h)?,
                    w_gate: Linear::from_gguf(file, &name("ffn_gate"), [f, h], mode)?,
                    w_up: Linear::from_gguf(file, &name("ffn_up"), [f, h], mode)?,
                    w_down: Linear::from_gguf(file, &name("ffn_down"), [h, f], mode)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = if file.has_tensor("output.weight") {
            Some(Linear::from_gguf(
                file,
                "output.weight",
                [config.vocab, h],
                mode,
            )?)
        } else {
            None
        };
        let mut weights = Self {
            config: config.clone(),
            mode,
            embed: Linear::from_gguf(file, "token_embd.weight", [config.vocab, h], mode)?,
            output,
            output_norm: norm(file, "output_norm.weight", h)?,
            layers,
        };
        if mode == WeightMode::Int8 && kernels::active().rows8.is_some() {
            weights.interleave();
        }
        Ok(weights)
    }

    fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        let layers = self.layers.iter_mut().flat_map(|l| {
            [
                &mut l.wq,
                &mut l.wk,
                &mut l.wv,
                &mut l.wo,
                &mut l.w_gate,
                &mut l.w_up,
                &mut l.w_down,
            ]
        });
        layers
            .chain(std::iter::once(&mut self.embed))
            .chain(self.output.as_mut())
    }

    /// Repacks every quantized matrix into the row-interleaved layout for
    /// the eight-row kernels (`cpu::interleave`), if every one fits it: a
    /// product's matrices share one layout.
    fn interleave(&mut self) {
        let fits =
            |l: &Linear| matches!(l, Linear::Q41(_) | Linear::Q80(_)) && interleave::fits(l.rows());
        if !self.matrices_mut().all(|l| fits(l)) {
            return;
        }
        for l in self.matrices_mut() {
            match l {
                Linear::Q41(m) => m.interleave(),
                Linear::Q80(m) => m.interleave(),
                Linear::Dense { .. } => unreachable!("checked above"),
            }
        }
    }

    /// How the quantized products take their activations in this mode.
    pub fn activations(&self) -> Activations {
        match self.mode {
            WeightMode::Int8 => Activations::Int8,
            WeightMode::Quantized | WeightMode::Dequantized => Activations::F32,
        }
    }

    pub fn output(&self) -> &Linear {
        self.output.as_ref().unwrap_or(&self.embed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GgufFile;

    /// The repacked quantized matrices agree with candle's dequantization:
    /// rows exactly, products up to f32 summation order.
    #[test]
    fn quantized_linear_matches_candle_dequantized() {
        let path = crate::model::default_model_path();
        let Ok(file) = GgufFile::open(&path) else {
            panic!(
                "model missing at {}: run scripts/setup.sh model",
                path.display()
            );
        };
        for (name, shape) in [
            ("blk.3.ffn_down.weight", [576, 1536]),
            ("token_embd.weight", [49152, 576]),
        ] {
            let q = Linear::from_gguf(&file, name, shape, WeightMode::Quantized).unwrap();
            let d = Linear::from_gguf(&file, name, shape, WeightMode::Dequantized).unwrap();
            let (mut rq, mut rd) = (vec![0f32; shape[1]], vec![0f32; shape[1]]);
            for r in [0, 1, 17, shape[0] - 1] {
                q.row(r, &mut rq).unwrap();
                d.row(r, &mut rd).unwrap();
                assert_eq!(rq, rd, "{name} row {r}");
            }
            let x: Vec<f32> = (0..2 * shape[1])
                .map(|i| ((i * 7919) % 200) as f32 / 100.0 - 1.0)
                .collect();
            let (mut yq, mut y8, mut yd) = (Vec::new(), Vec::new(), Vec::new());
            let one = Threads::new(1).unwrap();
            q.forward(&x, &mut yq, &mut Prepared::new(Activations::F32), &one)
                .unwrap();
            q.forward(&x, &mut y8, &mut Prepared::new(Activations::Int8), &one)
                .unwrap();
            d.forward(&x, &mut yd, &mut Prepared::new(Activations::F32), &one)
                .unwrap();
            let scale = yd.iter().fold(0f32, |a, v| a.max(v.abs()));
            let worst = |y: &[f32]| {
                y.iter()
                    .zip(&yd)
                    .fold(0f32, |a, (p, q)| a.max((p - q).abs()))
            };
            let (worst, worst8) = (worst(&yq), worst(&y8));
            assert!(
                worst8 < 0.05 * scale,
                "{name}: 8-bit activations max diff {worst8} vs scale {scale}"
            );
            assert!(
                worst < 0.02 * scale,
                "{name}: max diff {worst} vs scale {scale}"
            );
        }
    }
}
