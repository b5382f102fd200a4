//! Synthetic seed inputs for the fuzz targets whose real files are too large
//! to commit: a tiny llama GGUF (2 heads, 32 wide, one layer, a 263-token
//! byte-level vocabulary, Q4_1 / Q8_0 / F32 tensors, a ChatML template) that
//! goes all the way through engine construction, and a rank-1 PEFT adapter
//! for the real SmolLM2-135M shapes. `tests/fuzz_smoke.rs` checks that the
//! committed files under `fuzz/corpus/` are these bytes.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use half::f16;

use crate::model::LlamaConfig;

/// The GPT-2 byte-to-character map byte-level BPE vocabularies are written in.
pub(crate) fn byte_chars() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut extra = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                extra += 1;
                char::from_u32(255 + extra).unwrap_or('?')
            }
        })
        .collect()
}

const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A values tensor of `shape` (rows first) quantized to `dtype`.
fn tensor(shape: (usize, usize), dtype: GgmlDType, salt: usize) -> candle_core::Result<QTensor> {
    let n = shape.0 * shape.1;
    let values: Vec<f32> = (0..n)
        .map(|i| (((i * 7919 + salt * 104729) % 2000) as f32 / 1000.0 - 1.0) * 0.2)
        .collect();
    let t = Tensor::from_vec(values, shape, &Device::Cpu)?;
    QTensor::quantize(&t, dtype)
}

/// The tiny llama GGUF (about 17 KB).
pub fn tiny_gguf() -> candle_core::Result<Vec<u8>> {
    let (hidden, ffn, heads, kv_heads) = (32usize, 64usize, 2u32, 1u32);
    let kv = hidden / heads as usize * kv_heads as usize;
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .map(String::from)
        .to_vec();
    tokens.extend(byte_chars().iter().map(|c| c.to_string()));
    let merges = ["h e", "l l", "o Ġ", "Ġ t"];
    for m in merges {
        tokens.push(m.replace(' ', ""));
    }
    let types: Vec<Value> = (0..tokens.len())
        .map(|i| Value::I32(if i < 3 { 3 } else { 1 }))
        .collect();
    let vocab = tokens.len();
    let s = |v: &str| Value::String(v.to_string());
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", s("llama")),
        ("llama.embedding_length", Value::U32(hidden as u32)),
        ("llama.attention.head_count", Value::U32(heads)),
        ("llama.attention.head_count_kv", Value::U32(kv_heads)),
        ("llama.block_count", Value::U32(1)),
        ("llama.feed_forward_length", Value::U32(ffn as u32)),
        ("llama.context_length", Value::U32(64)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", s("gpt2")),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| s(t)).collect()),
        ),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        (
            "tokenizer.ggml.merges",
            Value::Array(merges.iter().map(|m| s(m)).collect()),
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(1)),
        ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ("tokenizer.chat_template", s(CHATML)),
    ];
    let q41 = GgmlDType::Q4_1;
    let named: Vec<(String, QTensor)> = vec![
        (
            "token_embd.weight".into(),
            tensor((vocab, hidden), GgmlDType::Q8_0, 1)?,
        ),
        (
            "output_norm.weight".into(),
            tensor((1, hidden), GgmlDType::F32, 2)?,
        ),
        (
            "blk.0.attn_norm.weight".into(),
            tensor((1, hidden), GgmlDType::F32, 3)?,
        ),
        (
            "blk.0.ffn_norm.weight".into(),
            tensor((1, hidden), GgmlDType::F32, 4)?,
        ),
        (
            "blk.0.attn_q.weight".into(),
            tensor((hidden, hidden), q41, 5)?,
        ),
        ("blk.0.attn_k.weight".into(), tensor((kv, hidden), q41, 6)?),
        ("blk.0.attn_v.weight".into(), tensor((kv, hidden), q41, 7)?),
        (
            "blk.0.attn_output.weight".into(),
            tensor((hidden, hidden), q41, 8)?,
        ),
        (
            "blk.0.ffn_gate.weight".into(),
            tensor((ffn, hidden), q41, 9)?,
        ),
        (
            "blk.0.ffn_up.weight".into(),
            tensor((ffn, hidden), q41, 10)?,
        ),
        (
            "blk.0.ffn_down.weight".into(),
            tensor((hidden, ffn), q41, 11)?,
        ),
    ];
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = named.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md, &ts)?;
    Ok(out.into_inner())
}

/// A fuzz input for `peft_adapter`: the config's length (u16, little
/// endian), the config, then the safetensors bytes.
pub fn adapter_input(config_json: &[u8], safetensors: &[u8]) -> Vec<u8> {
    let mut out = (config_json.len().min(u16::MAX as usize) as u16)
        .to_le_bytes()
        .to_vec();
    out.extend(config_json);
    out.extend(safetensors);
    out
}

/// A rank-1 adapter on layer 0's q_proj and v_proj of `config`, F16 and BF16.
pub fn tiny_adapter(config: &LlamaConfig) -> Vec<u8> {
    let cfg = serde_json::json!({
        "peft_type": "LORA",
        "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "r": 1,
        "lora_alpha": 2,
        "target_modules": ["q_proj", "v_proj"],
        "layers_to_transform": [0],
    })
    .to_string();
    let h = config.hidden;
    let f16s = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| f16::from_f32((i % 17) as f32 / 64.0 - 0.1).to_le_bytes())
            .collect()
    };
    let bf16s = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| half::bf16::from_f32((i % 13) as f32 / 32.0 - 0.2).to_le_bytes())
            .collect()
    };
    let key = |m: &str, path: &str, ab: &str| {
        format!("base_model.model.model.layers.0.{path}.{m}.lora_{ab}.weight")
    };
    let tensors = [
        (
            key("q_proj", "self_attn", "A"),
            safetensors::Dtype::F16,
            vec![1, h],
            f16s(h),
        ),
        (
            key("q_proj", "self_attn", "B"),
            safetensors::Dtype::F16,
            vec![h, 1],
            f16s(h),
        ),
        (
            key("v_proj", "self_attn", "A"),
            safetensors::Dtype::BF16,
            vec![1, h],
            bf16s(h),
        ),
        (
            key("v_proj", "self_attn", "B"),
            safetensors::Dtype::BF16,
            vec![config.kv_dim(), 1],
            bf16s(config.kv_dim()),
        ),
    ];
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .filter_map(|(k, dtype, shape, data)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .ok()
                .map(|v| (k.clone(), v))
        })
        .collect();
    let st = safetensors::serialize(views, None).unwrap_or_default();
    adapter_input(cfg.as_bytes(), &st)
}
