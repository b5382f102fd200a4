//! Llama hyper-parameters read from GGUF metadata, with the checks that turn
//! a GGUF of another architecture into a clear error.

use serde::Serialize;

use super::GgufFile;
use crate::{Error, Result};

/// The shape of a llama-architecture model (SmolLM2-135M: 30 layers, 9/3 heads, 576 wide).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub hidden: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub context: usize,
    pub rope_base: f32,
    pub rms_eps: f32,
}

impl LlamaConfig {
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let arch = file.get_str("general.architecture")?;
        if arch != "llama" {
            return Err(Error::UnsupportedModel(format!(
                "this GGUF is a '{arch}' model; the playground runs llama-architecture models such as SmolLM2-135M-Instruct"
            )));
        }
        let hidden = file.get_usize("llama.embedding_length")?;
        let n_head = file.get_usize("llama.attention.head_count")?;
        let n_kv_head = file
            .get_usize("llama.attention.head_count_kv")
            .unwrap_or(n_head);
        if n_head == 0 || n_kv_head == 0 || hidden % n_head != 0 || n_head % n_kv_head != 0 {
            return Err(Error::UnsupportedModel(format!(
                "inconsistent attention shape: hidden {hidden}, {n_head} heads, {n_kv_head} KV heads"
            )));
        }
        let vocab = file.get_array("tokenizer.ggml.tokens").map(|t| t.len())?;
        let cfg = Self {
            n_layer: file.get_usize("llama.block_count")?,
            n_head,
            n_kv_head,
            head_dim: hidden / n_head,
            hidden,
            ffn: file.get_usize("llama.feed_forward_length")?,
            vocab,
            context: file.get_usize("llama.context_length")?,
            rope_base: file.get_f32("llama.rope.freq_base").unwrap_or(10000.0),
            rms_eps: file.get_f32("llama.attention.layer_norm_rms_epsilon")?,
        };
        for (key, v) in [
            ("llama.rope.freq_base", cfg.rope_base),
            ("llama.attention.layer_norm_rms_epsilon", cfg.rms_eps),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::UnsupportedModel(format!(
                    "{key} is {v}; it must be a positive number (the file is corrupt: fetch it again)"
                )));
            }
        }
        if !cfg.head_dim.is_multiple_of(2)
            || !cfg.hidden.is_multiple_of(32)
            || !cfg.ffn.is_multiple_of(32)
        {
            return Err(Error::UnsupportedModel(format!(
                "hidden {} / ffn {} / head dim {} are not multiples of the 32-wide quantization blocks",
                cfg.hidden, cfg.ffn, cfg.head_dim
            )));
        }
        Ok(cfg)
    }

    /// Width of the K and V projections (KV heads x head dim).
    pub fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}
