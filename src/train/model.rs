//! The llama forward again, this time in candle tensor ops so that autograd
//! can train LoRA adapters through it (MPG paper §4.1: DPO experts). Weights
//! are the GGUF's, dequantized to f32 and frozen; rope uses llama.cpp's
//! adjacent-pair layout like the CPU backend, so q/k deltas live in the GGUF
//! row order here and are permuted back to Hugging Face order when saved.
//!
//! Only the upper layers carry adapters, so the hidden state entering the
//! first adapted layer is computed once per sequence (`hidden_below`) and the
//! training steps run the top of the network only.

use candle_core::{CpuStorage, CustomOp1, Device, Layout, Result, Shape, Tensor, D};

use super::lora_vars::LoraVars;
use crate::model::lora::Module;
use crate::model::{GgufFile, LlamaConfig};

struct Block {
    attn_norm: Tensor,
    wq: Tensor,
    wk: Tensor,
    wv: Tensor,
    wo: Tensor,
    ffn_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

/// Frozen f32 weights of the whole model on the CPU.
pub struct TrainModel {
    pub config: LlamaConfig,
    embed: Tensor,
    output: Option<Tensor>,
    blocks: Vec<Block>,
    norm: Tensor,
    device: Device,
}

fn to_candle(e: crate::Error) -> candle_core::Error {
    candle_core::Error::Msg(e.to_string())
}

impl TrainModel {
    pub fn load(file: &GgufFile, config: &LlamaConfig) -> Result<Self> {
        let device = Device::Cpu;
        let tensor = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let data = file.dequantize(name).map_err(to_candle)?;
            Tensor::from_vec(data, shape, &device)
        };
        let (h, kv, f) = (config.hidden, config.kv_dim(), config.ffn);
        let mut blocks = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let name = |t: &str| format!("blk.{i}.{t}.weight");
            blocks.push(Block {
                attn_norm: tensor(&name("attn_norm"), &[h])?,
                wq: tensor(&name("attn_q"), &[h, h])?,
                wk: tensor(&name("attn_k"), &[kv, h])?,
                wv: tensor(&name("attn_v"), &[kv, h])?,
                wo: tensor(&name("attn_output"), &[h, h])?,
                ffn_norm: tensor(&name("ffn_norm"), &[h])?,
                gate: tensor(&name("ffn_gate"), &[f, h])?,
                up: tensor(&name("ffn_up"), &[f, h])?,
                down: tensor(&name("ffn_down"), &[h, f])?,
            });
        }
        let output = if file.has_tensor("output.weight") {
            Some(tensor("output.weight", &[config.vocab, h])?)
        } else {
            None
        };
        Ok(Self {
            embed: tensor("token_embd.weight", &[config.vocab, h])?,
            output,
            norm: tensor("output_norm.weight", &[h])?,
            blocks,
            config: config.clone(),
            device,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The residual stream `[T, hidden]` entering layer `upto`, with no adapter.
    pub fn hidden_below(&self, ids: &[u32], upto: usize) -> Result<Tensor> {
        let ids_t = Tensor::new(ids, &self.device)?;
        let mut h = self.embed.index_select(&ids_t, 0)?;
        let rope = Rope::new(&self.config, ids.len(), &self.device)?;
        for l in 0..upto {
            h = self.block(l, &h, &rope, None)?;
        }
        Ok(h)
    }

    /// Sum of log π(ids[t] | ids[..t]) over `t >= answer_start`, running
    /// layers `from..` on `hidden` (the stream entering layer `from`) with
    /// the adapter when given. Differentiable in the adapter's variables.
    pub fn answer_logprob(
        &self,
        hidden: &Tensor,
        from: usize,
        ids: &[u32],
        answer_start: usize,
        lora: Option<&LoraVars>,
    ) -> Result<Tensor> {
        let t = ids.len();
        if answer_start == 0 || answer_start >= t {
            candle_core::bail!("answer must start after the prompt and hold a token");
        }
        let rope = Rope::new(&self.config, t, &self.device)?;
        let mut h = hidden.clone();
        for l in from..self.config.n_layer {
            h = self.block(l, &h, &rope, lora)?;
        }
        // Positions answer_start-1 .. t-2 predict the answer tokens.
        let n = t - answer_start;
        let h = rms_norm(
            &h.narrow(0, answer_start - 1, n)?,
            &self.norm,
            self.config.rms_eps,
        )?;
        let out = self.output.as_ref().unwrap_or(&self.embed);
        let logits = frozen_linear(&h, out)?;
        let logp = log_softmax(&logits)?;
        let targets = Tensor::new(&ids[answer_start..], &self.device)?.unsqueeze(1)?;
        logp.gather(&targets, 1)?.sum_all()
    }

    fn block(&self, l: usize, h: &Tensor, rope: &Rope, lora: Option<&LoraVars>) -> Result<Tensor> {
        let b = &self.blocks[l];
        let c = &self.config;
        let t = h.dim(0)?;
        let lin = |x: &Tensor, w: &Tensor, m: Module| -> Result<Tensor> {
            let y = frozen_linear(x, w)?;
            match lora.and_then(|v| v.apply(l, m, x)) {
                Some(delta) => y + delta?,
                None => Ok(y),
            }
        };
        let x = rms_norm(h, &b.attn_norm, c.rms_eps)?;
        let q = lin(&x, &b.wq, Module::Q)?.reshape((t, c.n_head, c.head_dim))?;
        let k = lin(&x, &b.wk, Module::K)?.reshape((t, c.n_kv_head, c.head_dim))?;
        let v = lin(&x, &b.wv, Module::V)?.reshape((t, c.n_kv_head, c.head_dim))?;
        let q = rope.apply(&q)?.transpose(0, 1)?.contiguous()?; // [H, T, hd]
        let k = repeat_kv(&rope.apply(&k)?.transpose(0, 1)?, c.n_head / c.n_kv_head)?;
        let v = repeat_kv(&v.transpose(0, 1)?, c.n_head / c.n_kv_head)?;
        let scores = (q.matmul(&k.t()?)? / (c.head_dim as f64).sqrt())?;
        let scores = scores.broadcast_add(&causal_mask(t, &self.device)?)?;
        let att = softmax(&scores)?.matmul(&v)?; // [H, T, hd]
        let att = att.transpose(0, 1)?.reshape((t, c.hidden))?;
        let h = (h + lin(&att, &b.wo, Module::O)?)?;
        let x = rms_norm(&h, &b.ffn_norm, c.rms_eps)?;
        let g = lin(&x, &b.gate, Module::Gate)?;
        let u = lin(&x, &b.up, Module::Up)?;
        let silu = (&g * (g.neg()?.exp()? + 1.0)?.recip()?)?;
        h + lin(&(silu * u)?, &b.down, Module::Down)?
    }
}

/// `x Wᵀ` for a frozen `W` `[out, in]`. Candle's matmul backward also forms
/// the gradient of its right operand, as large as the weight, on every call;
/// this op passes the gradient to `x` only.
fn frozen_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(FrozenLinear { w: w.clone() })
}

struct FrozenLinear {
    w: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("frozen-linear needs a contiguous input");
        };
        let x = Tensor::from_slice(
            &storage.as_slice::<f32>()?[start..end],
            layout.shape(),
            &Device::Cpu,
        )?;
        let y = x.matmul(&self.w.t()?)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.w)?))
    }
}

/// `[kv, T, hd]` -> `[kv * group, T, hd]`: query head h reads KV head h / group.
fn repeat_kv(x: &Tensor, group: usize) -> Result<Tensor> {
    let (kv, t, hd) = x.dims3()?;
    x.unsqueeze(1)?
        .broadcast_as((kv, group, t, hd))?
        .reshape((kv * group, t, hd))
}

fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (1, t, t), device)
}

fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps as f64)?.sqrt()?)?
        .broadcast_mul(w)
}

fn softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    shifted.broadcast_sub(&shifted.exp()?.sum_keepdim(D::Minus1)?.log()?)
}

/// Rotary tables for positions `0..t`, applied to adjacent pairs.
struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(c: &LlamaConfig, t: usize, device: &Device) -> Result<Self> {
        let half = c.head_dim / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(t * half), Vec::with_capacity(t * half));
        for pos in 0..t {
            for i in 0..half {
                let inv = (c.rope_base as f64).powf(-2.0 * i as f64 / c.head_dim as f64);
                let angle = pos as f64 * inv;
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (t, 1, half, 1), device)?,
            sin: Tensor::from_vec(sin, (t, 1, half, 1), device)?,
        })
    }

    /// `x`: `[T, heads, head_dim]`; rotates (x[2i], x[2i+1]) of every head.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (t, heads, hd) = x.dims3()?;
        let x = x.reshape((t, heads, hd / 2, 2))?;
        let a = x.narrow(3, 0, 1)?;
        let b = x.narrow(3, 1, 1)?;
        let ra = (a.broadcast_mul(&self.cos)? - b.broadcast_mul(&self.sin)?)?;
        let rb = (a.broadcast_mul(&self.sin)? + b.broadcast_mul(&self.cos)?)?;
        Tensor::cat(&[ra, rb], 3)?.reshape((t, heads, hd))
    }
}
