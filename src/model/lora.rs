//! LoRA adapters in the format the field uses (PEFT / trl:
//! `adapter_config.json` + `adapter_model.safetensors`), checked against the
//! model and converted to the GGUF layout: llama.cpp's converter permuted the
//! rows of the Q and K projections for its rope layout, so a q_proj / k_proj
//! delta trained on the Hugging Face layout gets the same row permutation.
//! The MPG paper's experts are such adapters (r = 8, lora_alpha = 16).

use std::collections::HashMap;
use std::path::Path;

use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};
use serde::Deserialize;

use super::LlamaConfig;
use crate::{Error, Result};

/// The seven projections of a llama block an adapter may target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Module {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Module {
    pub const ALL: [Module; 7] = [
        Module::Q,
        Module::K,
        Module::V,
        Module::O,
        Module::Gate,
        Module::Up,
        Module::Down,
    ];

    pub fn peft_name(self) -> &'static str {
        match self {
            Module::Q => "q_proj",
            Module::K => "k_proj",
            Module::V => "v_proj",
            Module::O => "o_proj",
            Module::Gate => "gate_proj",
            Module::Up => "up_proj",
            Module::Down => "down_proj",
        }
    }

    pub fn peft_path(self) -> &'static str {
        match self {
            Module::Q | Module::K | Module::V | Module::O => "self_attn",
            _ => "mlp",
        }
    }

    /// `[out, in]` of this projection.
    pub fn shape(self, c: &LlamaConfig) -> [usize; 2] {
        match self {
            Module::Q | Module::O => [c.hidden, c.hidden],
            Module::K | Module::V => [c.kv_dim(), c.hidden],
            Module::Gate | Module::Up => [c.ffn, c.hidden],
            Module::Down => [c.hidden, c.ffn],
        }
    }
}

/// One low-rank delta `scale · B A` in GGUF layout: `a` is `[rank, in]`,
/// `b` is `[out, rank]`, both row-major f32.
#[derive(Debug, Clone)]
pub struct LoraDelta {
    pub rank: usize,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub scale: f32,
}

/// A loaded adapter: deltas per (layer, module).
#[derive(Debug, Clone)]
pub struct LoraAdapter {
    pub name: String,
    pub rank: usize,
    pub deltas: HashMap<(usize, Module), LoraDelta>,
}

#[derive(Deserialize)]
struct PeftConfig {
    #[serde(default)]
    peft_type: Option<String>,
    r: usize,
    lora_alpha: f64,
    #[serde(default)]
    use_rslora: bool,
    target_modules: serde_json::Value,
    #[serde(default)]
    base_model_name_or_path: Option<String>,
    #[serde(default)]
    fan_in_fan_out: bool,
    /// PEFT's subset of adapted layers (one index or a list; all when absent).
    #[serde(default)]
    layers_to_transform: Option<serde_json::Value>,
}

fn bad(name: &str, msg: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("adapter {name}: {msg}"))
}

/// llama.cpp's rope row permutation for a `[rows, ...]` matrix with `heads` heads.
pub fn permute_rows(w: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    move_rows(w, rows, heads, |hf, gguf| (gguf, hf))
}

/// The inverse of [`permute_rows`]: GGUF row order back to Hugging Face's.
pub fn unpermute_rows(w: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    move_rows(w, rows, heads, |hf, gguf| (hf, gguf))
}

/// Copies every row between its Hugging Face index (h, j, i) and its GGUF
/// index (h, i, j), i < head_dim / 2, j < 2; `pick(hf, gguf)` says which is
/// the destination and which the source.
fn move_rows(
    w: &[f32],
    rows: usize,
    heads: usize,
    pick: impl Fn(usize, usize) -> (usize, usize),
) -> Vec<f32> {
    let cols = w.len() / rows;
    let half = rows / heads / 2;
    let mut out = vec![0f32; w.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let (dst, src) = pick(h * 2 * half + j * half + i, h * 2 * half + i * 2 + j);
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

fn to_f32(name: &str, key: &str, view: &safetensors::tensor::TensorView<'_>) -> Result<Vec<f32>> {
    let d = view.data();
    let v: Vec<f32> = match view.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(bad(
                name,
                format!("{key} has dtype {other:?}; expected F32, F16 or BF16"),
            ))
        }
    };
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(bad(
            name,
            format!("{key} holds a non-finite value ({}) at index {i}", v[i]),
        ));
    }
    Ok(v)
}

impl LoraAdapter {
    /// Reads `dir/adapter_config.json` and `dir/adapter_model.safetensors`.
    pub fn load(dir: &Path, config: &LlamaConfig) -> Result<Self> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| dir.display().to_string());
        let read = |file: &str| {
            std::fs::read(dir.join(file)).map_err(|e| bad(&name, format!("cannot read {}: {e} (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)", dir.join(file).display())))
        };
        let cfg = read("adapter_config.json")?;
        let weights = read("adapter_model.safetensors")?;
        Self::from_bytes(&name, &cfg, &weights, config)
    }

    /// Parses an adapter held in memory (the browser has files as bytes).
    pub fn from_bytes(
        name: &str,
        config_json: &[u8],
        safetensors: &[u8],
        config: &LlamaConfig,
    ) -> Result<Self> {
        let peft: PeftConfig = serde_json::from_slice(config_json)
            .map_err(|e| bad(name, format!("adapter_config.json: {e}")))?;
        if let Some(t) = &peft.peft_type {
            if t != "LORA" {
                return Err(bad(
                    name,
                    format!("peft_type is {t}; only LORA adapters are supported"),
                ));
            }
        }
        if let Some(base) = &peft.base_model_name_or_path {
            if !base.to_lowercase().contains("smollm2-135m") {
                return Err(bad(
                    name,
                    format!("it was trained for {base}; this model is SmolLM2-135M-Instruct"),
                ));
            }
        }
        if peft.r == 0 {
            return Err(bad(name, "r is 0"));
        }
        if peft.fan_in_fan_out {
            return Err(bad(
                name,
                "fan_in_fan_out adapters (GPT-2 Conv1D layout) do not fit llama projections",
            ));
        }
        let targets: Vec<String> = match &peft.target_modules {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            serde_json::Value::String(s) if s == "all-linear" => Module::ALL
                .iter()
                .map(|m| m.peft_name().to_string())
                .collect(),
            other => {
                return Err(bad(
                    name,
                    format!("target_modules {other}: give a list of module names"),
                ))
            }
        };
        let mut modules = Vec::new();
        for t in &targets {
            match Module::ALL.iter().find(|m| m.peft_name() == t) {
                Some(m) => modules.push(*m),
                None => return Err(bad(name, format!("unknown target module '{t}'; SmolLM2 has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"))),
            }
        }
        let scale = if peft.use_rslora {
            peft.lora_alpha / (peft.r as f64).sqrt()
        } else {
            peft.lora_alpha / peft.r as f64
        } as f32;
        if !(scale.is_finite() && peft.lora_alpha.is_finite()) {
            return Err(bad(
                name,
                format!(
                    "lora_alpha {} with r = {} gives the scale {scale}; use a finite lora_alpha (PEFT's default is 2 r)",
                    peft.lora_alpha, peft.r
                ),
            ));
        }
        let st = SafeTensors::deserialize(safetensors)
            .map_err(|e| bad(name, format!("adapter_model.safetensors: {e}")))?;
        let layers: Vec<usize> = match &peft.layers_to_transform {
            None | Some(serde_json::Value::Null) => (0..config.n_layer).collect(),
            Some(v) => {
                let list = match v {
                    serde_json::Value::Array(a) => a.iter().map(|x| x.as_u64()).collect(),
                    other => vec![other.as_u64()],
                };
                let list = list
                    .into_iter()
                    .map(|i| i.and_then(|i| usize::try_from(i).ok()))
                    .collect::<Option<Vec<usize>>>();
                match list {
                    Some(l) if l.iter().all(|&i| i < config.n_layer) => l,
                    _ => {
                        return Err(bad(
                            name,
                            format!(
                                "layers_to_transform {v} must list layer indices below {}",
                                config.n_layer
                            ),
                        ))
                    }
                }
            }
        };
        let mut deltas = HashMap::new();
        for &layer in &layers {
            for &m in &modules {
                let key = |ab: &str| {
                    format!(
                        "base_model.model.model.layers.{layer}.{}.{}.lora_{ab}.weight",
                        m.peft_path(),
                        m.peft_name()
                    )
                };
                let (ka, kb) = (key("A"), key("B"));
                let (Ok(va), Ok(vb)) = (st.tensor(&ka), st.tensor(&kb)) else {
                    return Err(bad(
                        name,
                        format!(
                            "{ka} / lora_B missing: the config targets {} in layer {layer}",
                            m.peft_name()
                        ),
                    ));
                };
                let [out, inp] = m.shape(config);
                if va.shape() != [peft.r, inp] || vb.shape() != [out, peft.r] {
                    return Err(bad(
                        name,
                        format!("{} in layer {layer} has A {:?} and B {:?}; SmolLM2-135M with r = {} needs A [{}, {inp}] and B [{out}, {}] (wrong base model, or ranks that do not match the config)", m.peft_name(), va.shape(), vb.shape(), peft.r, peft.r, peft.r),
                    ));
                }
                let a = to_f32(name, &ka, &va)?;
                let mut b = to_f32(name, &kb, &vb)?;
                match m {
                    Module::Q => b = permute_rows(&b, out, config.n_head),
                    Module::K => b = permute_rows(&b, out, config.n_kv_head),
                    _ => {}
                }
                deltas.insert(
                    (layer, m),
                    LoraDelta {
                        rank: peft.r,
                        a,
                        b,
                        scale,
                    },
                );
            }
        }
        Ok(Self {
            name: name.to_string(),
            rank: peft.r,
            deltas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_matches_llama_cpp_reshape_swapaxes() {
        // numpy: w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2).reshape(rows, cols)
        let (rows, cols, heads) = (8, 2, 2);
        let w: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
        let p = permute_rows(&w, rows, heads);
        // head 0 rows 0..4 = [a0 a1 | b0 b1] -> [a0 b0 a1 b1]
        let row = |r: usize| p[r * cols] as usize / cols;
        assert_eq!(
            (0..rows).map(row).collect::<Vec<_>>(),
            vec![0, 2, 1, 3, 4, 6, 5, 7]
        );
        assert_eq!(unpermute_rows(&p, rows, heads), w);
    }
}
