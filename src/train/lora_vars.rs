//! Trainable LoRA weights (A, B per adapted layer and projection) as candle
//! variables, initialised as PEFT does (A uniform in ±1/√in, B zero, so the
//! adapter starts as the base model), with PEFT's input dropout, and written
//! out in PEFT's format (q/k B rows permuted back to Hugging Face order).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::lora::{unpermute_rows, Module};
use crate::model::LlamaConfig;

/// Dtype of every trained tensor.
pub const DTYPE: DType = DType::F32;

/// The shape of an adapter to train (the MPG paper: r = 8, α = 16, dropout 0.05).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoraShape {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub layers: Vec<usize>,
    pub modules: Vec<Module>,
}

pub struct LoraVars {
    pub shape: LoraShape,
    vars: HashMap<(usize, Module), (Var, Var)>,
    scale: f64,
    /// +1, or −1 to evaluate the adapter subtracted (two-sided DPO).
    sign: Cell<f64>,
    /// Dropout is applied while training only.
    training: bool,
    rng: RefCell<ChaCha8Rng>,
}

impl LoraVars {
    pub fn new(shape: LoraShape, config: &LlamaConfig, seed: u64) -> Result<Self> {
        let device = candle_core::Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut vars = HashMap::new();
        for &l in &shape.layers {
            for &m in &shape.modules {
                let [out, inp] = m.shape(config);
                let bound = 1.0 / (inp as f32).sqrt();
                let a: Vec<f32> = (0..shape.rank * inp)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (shape.rank, inp), &device)?)?;
                let b = Var::zeros((out, shape.rank), DTYPE, &device)?;
                vars.insert((l, m), (a, b));
            }
        }
        Ok(Self {
            scale: shape.alpha / shape.rank as f64,
            sign: Cell::new(1.0),
            shape,
            vars,
            training: false,
            rng: RefCell::new(rng),
        })
    }

    pub fn set_training(&mut self, on: bool) {
        self.training = on;
    }

    /// Applies the delta added (+1) or subtracted (−1): α = −1 of the sweep.
    pub fn set_sign(&self, sign: f64) {
        self.sign.set(sign);
    }

    /// Every variable, A and B, in a fixed order (for the optimiser).
    pub fn all_vars(&self) -> Vec<Var> {
        let mut keys: Vec<_> = self.vars.keys().copied().collect();
        keys.sort_by_key(|&(l, m)| (l, m as usize));
        keys.iter()
            .flat_map(|k| {
                let (a, b) = &self.vars[k];
                [a.clone(), b.clone()]
            })
            .collect()
    }

    /// `±scale · dropout(x) Aᵀ Bᵀ` for layer `l`'s projection `m`, if adapted.
    pub fn apply(&self, l: usize, m: Module, x: &Tensor) -> Option<Result<Tensor>> {
        let (a, b) = self.vars.get(&(l, m))?;
        Some((|| {
            let x = if self.training && self.shape.dropout > 0.0 {
                let keep = 1.0 - self.shape.dropout;
                let mut rng = self.rng.borrow_mut();
                let mask: Vec<f32> = (0..x.elem_count())
                    .map(|_| {
                        if rng.random::<f64>() < keep {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                (x * Tensor::from_vec(mask, x.shape(), x.device())?)?
            } else {
                x.clone()
            };
            x.matmul(&a.as_tensor().t()?)?.matmul(&b.as_tensor().t()?)?
                * (self.scale * self.sign.get())
        })())
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` (f32).
    pub fn save_peft(&self, dir: &Path, config: &LlamaConfig) -> crate::Result<()> {
        let io = |e: std::io::Error| crate::Error::InvalidInput(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let tensor_err = |e: candle_core::Error| crate::Error::Backend(e.to_string());
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (&(l, m), (a, b)) in &self.vars {
            let key = |ab: &str| {
                format!(
                    "base_model.model.model.layers.{l}.{}.{}.lora_{ab}.weight",
                    m.peft_path(),
                    m.peft_name()
                )
            };
            let a_data = a
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(tensor_err)?;
            let mut b_data = b
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(tensor_err)?;
            let [out, inp] = m.shape(config);
            match m {
                Module::Q => b_data = unpermute_rows(&b_data, out, config.n_head),
                Module::K => b_data = unpermute_rows(&b_data, out, config.n_kv_head),
                _ => {}
            }
            let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            tensors.push((key("A"), vec![self.shape.rank, inp], bytes(&a_data)));
            tensors.push((key("B"), vec![out, self.shape.rank], bytes(&b_data)));
        }
        tensors.sort_by(|x, y| x.0.cmp(&y.0));
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(k, shape, data)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    data,
                )
                .expect("shape matches data");
                (k.clone(), view)
            })
            .collect();
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize_to_file(
            views,
            Some(metadata),
            &dir.join("adapter_model.safetensors"),
        )
        .map_err(|e| crate::Error::InvalidInput(format!("{}: {e}", dir.display())))?;
        let peft = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "r": self.shape.rank,
            "lora_alpha": self.shape.alpha,
            "lora_dropout": self.shape.dropout,
            "target_modules": self.shape.modules.iter().map(|m| m.peft_name()).collect::<Vec<_>>(),
            "layers_to_transform": self.shape.layers,
            "layers_pattern": null,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "use_rslora": false,
            "use_dora": false,
            "init_lora_weights": true,
            "modules_to_save": null,
            "rank_pattern": {},
            "alpha_pattern": {},
            "revision": null
        });
        std::fs::write(
            dir.join("adapter_config.json"),
            serde_json::to_string_pretty(&peft).expect("json"),
        )
        .map_err(io)
    }
}
