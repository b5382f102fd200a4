//! Training the MPG paper's experts (§4.1): preference pairs by prompt
//! distillation, and DPO on LoRA adapters (native only).

pub mod distill;
pub mod pairs;
