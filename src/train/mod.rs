//! Training the MPG paper's experts (§4.1): preference pairs by prompt
//! distillation (drawn contrastively and filtered), DPO on LoRA adapters
//! over a candle forward (native only), and the judge that scores generated
//! answers for `persona eval-steering`.

pub mod answer_text;
pub mod distill;
pub mod judge;
pub mod pair_filter;
pub mod pairs;
pub mod pole_sampler;

#[cfg(not(target_arch = "wasm32"))]
pub mod dpo;
#[cfg(not(target_arch = "wasm32"))]
pub mod lora_vars;
#[cfg(not(target_arch = "wasm32"))]
pub mod model;
