//! Fuzz targets: one function per parser of outside input, shared by the
//! two drivers, cargo-fuzz / libFuzzer (`fuzz/fuzz_targets/*.rs`, run by
//! `fuzz/run.sh`) and the seeded stable mutation driver the test command runs
//! (`tests/fuzz_smoke.rs`). Each target takes any bytes, runs the real
//! parsing code and must never panic; where cheap it also asserts what a
//! parsed value promises (a panic then means a broken invariant). Targets
//! that need the real model (`peft_adapter`, `tokenizer`, `chat_template`)
//! load it once; call [`init`] first so that loading is not timed.
//! Not part of the engine's API.

pub mod seeds;

use std::sync::OnceLock;

use crate::backend::cpu::{CpuBackend, CpuWeights, WeightMode};
use crate::backend::{Backend, Readout, RowStep};
use crate::model::lora::LoraAdapter;
use crate::model::{
    ChatMessage, ChatTemplate, GgufFile, LlamaConfig, PromptPiece, Role, Tokenizer,
};
use crate::page_data::protocol::{Command, Event};
use crate::page_data::trace_file::TraceFile;
use crate::page_data::url_params;
use crate::steer::persona::{experts_from_toml_str, Persona, MAX_ATTRIBUTES};

/// A fuzz target: any bytes in, a panic only for a bug.
pub type Target = fn(&[u8]);

/// Every target by name, in the order `fuzz/run.sh all` runs them.
pub const TARGETS: [(&str, Target); 12] = [
    ("gguf", gguf),
    ("peft_adapter", peft_adapter),
    ("persona_toml", persona_toml),
    ("experts_toml", experts_toml),
    ("probe_jsonl", probe_jsonl),
    ("pairs_jsonl", pairs_jsonl),
    ("trace_json", trace_json),
    ("url_state", url_state),
    ("worker_protocol", worker_protocol),
    ("tokenizer", tokenizer),
    ("chat_template", chat_template),
    ("weights_check", weights_check),
];

/// The real model's config, tokenizer and template, loaded once.
struct Real {
    config: LlamaConfig,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// Bytes whose byte-level character is not in the vocabulary: BPE drops
    /// them, as llama.cpp does (SmolLM2 lacks 0x04, 0x06, 0x13, 0x14, 0x16,
    /// 0x1d, 0xf1, 0xf2 and the bytes UTF-8 never uses).
    dropped: [bool; 256],
    /// The MBTI experts' names (the page's α list).
    expert_names: Vec<String>,
}

fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| {
        let path = crate::model::default_model_path();
        let load = || -> crate::Result<Real> {
            let file = GgufFile::open(&path)?;
            let tokenizer = Tokenizer::from_gguf(&file)?;
            let template = ChatTemplate::from_gguf(
                &file,
                tokenizer.token_text(tokenizer.bos_id),
                tokenizer.token_text(tokenizer.eos_id),
            )?;
            let chars = seeds::byte_chars();
            let dropped =
                std::array::from_fn(|b| tokenizer.token_id(&chars[b].to_string()).is_none());
            Ok(Real {
                config: LlamaConfig::from_gguf(&file)?,
                tokenizer,
                template,
                dropped,
                expert_names: crate::steer::persona::builtin_experts()
                    .into_iter()
                    .map(|e| e.name)
                    .collect(),
            })
        };
        load().unwrap_or_else(|e| {
            panic!(
                "the fuzz targets need the real model at {}: {e} (run scripts/setup.sh model)",
                path.display()
            )
        })
    })
}

/// Loads what the targets share (the real model's tokenizer, template and
/// config), outside any timed execution.
pub fn init() {
    real();
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// GGUF header, metadata and tensor table, then engine construction: the
/// config, tokenizer and template from the metadata, the CPU backend's
/// weights (shapes, types, offsets) in both weight modes.
pub fn gguf(data: &[u8]) {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    if let Ok(tok) = Tokenizer::from_gguf(&file) {
        let _ = ChatTemplate::from_gguf(
            &file,
            tok.token_text(tok.bos_id),
            tok.token_text(tok.eos_id),
        );
        if let Ok(ids) = tok.encode("Hello <|im_end|> world 123") {
            assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
            let _ = tok.decode(&ids);
        }
    }
    let Ok(config) = LlamaConfig::from_gguf(&file) else {
        return;
    };
    assert!(config.n_head > 0 && config.hidden.is_multiple_of(config.n_head));
    for mode in [WeightMode::Quantized, WeightMode::Dequantized] {
        if let Ok(w) = CpuWeights::load(&file, &config, mode) {
            assert_eq!(w.layers.len(), config.n_layer);
            assert_eq!(
                (w.embed.rows(), w.embed.cols()),
                (config.vocab, config.hidden)
            );
            assert_eq!(w.output().rows(), config.vocab);
        }
    }
    // One forward of two tokens through the SIMD kernels on what loaded.
    let Ok(mut cpu) = CpuBackend::new(&file, &config, WeightMode::Quantized) else {
        return;
    };
    let Ok(row) = cpu.new_row() else {
        return;
    };
    let tokens = [0, (config.vocab as u32).saturating_sub(1)];
    let step = RowStep {
        row,
        tokens: &tokens,
        readout: Readout::Last,
    };
    let _ = cpu.forward_sync(&[step]);
}

/// The non-finite check alone over arbitrary bytes as each tensor type.
pub fn weights_check(data: &[u8]) {
    use candle_core::quantized::GgmlDType as T;
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let types = [
        T::F32,
        T::F16,
        T::BF16,
        T::Q4_0,
        T::Q4_1,
        T::Q5_0,
        T::Q5_1,
        T::Q8_0,
        T::Q8_1,
        T::Q2K,
        T::Q3K,
        T::Q4K,
        T::Q5K,
        T::Q6K,
        T::Q8K,
    ];
    let dtype = types[which as usize % types.len()];
    let whole = rest.len() / dtype.type_size() * dtype.type_size();
    if let Some(d) = crate::model::validate::check_tensor(dtype, &rest[..whole]) {
        assert!(d.count >= 1 && d.first < whole / dtype.type_size());
    }
}

/// `adapter_config.json` and `adapter_model.safetensors` together, checked
/// against the real model's config: the input is a u16 length of the config,
/// the config, then the safetensors bytes.
pub fn peft_adapter(data: &[u8]) {
    let (cfg, st) = match data {
        [a, b, rest @ ..] => rest.split_at((u16::from_le_bytes([*a, *b]) as usize).min(rest.len())),
        _ => return,
    };
    let config = &real().config;
    let Ok(adapter) = LoraAdapter::from_bytes("fuzz", cfg, st, config) else {
        return;
    };
    assert!(adapter.rank > 0);
    for (&(layer, module), d) in &adapter.deltas {
        let [out, inp] = module.shape(config);
        assert!(layer < config.n_layer);
        assert_eq!((d.a.len(), d.b.len()), (d.rank * inp, out * d.rank));
        assert!(d.scale.is_finite(), "scale {}", d.scale);
        assert!(d.a.iter().chain(&d.b).all(|x| x.is_finite()));
    }
}

/// A persona file: what parses is valid, renders every prompt, and survives
/// the JSON trip to the worker.
pub fn persona_toml(data: &[u8]) {
    let Ok(p) = Persona::from_toml_str(&text(data)) else {
        return;
    };
    assert!(p.validate().is_ok());
    assert!(!p.is_empty() && p.len() <= MAX_ATTRIBUTES);
    let full = p.system_prompt();
    for (i, t) in p.ablated_prompts().iter().enumerate() {
        assert!(t.len() < full.len(), "T_{i} is not shorter than T");
    }
    let _ = p.attribute_names();
    let json = serde_json::to_string(&p).expect("a persona serializes");
    let back: Persona = serde_json::from_str(&json).expect("a persona reads back");
    assert_eq!(back, p);
}

/// An experts file: every expert is one pole of a well-formed axis.
pub fn experts_toml(data: &[u8]) {
    let Ok(experts) = experts_from_toml_str(&text(data)) else {
        return;
    };
    assert!(!experts.is_empty());
    for e in &experts {
        assert!(e.poles().is_some(), "{e:?}");
        assert!(e.pole_sign().abs() == 1.0);
    }
}

/// Probe items, one JSON object per line.
pub fn probe_jsonl(data: &[u8]) {
    if let Ok(items) = crate::steer::probe::items_from_jsonl(&text(data)) {
        for item in items {
            let json = serde_json::to_string(&item).expect("an item serializes");
            assert_eq!(
                serde_json::from_str::<crate::steer::probe::ProbeItem>(&json).ok(),
                Some(item)
            );
        }
    }
}

/// Preference pairs, one JSON object per line.
pub fn pairs_jsonl(data: &[u8]) {
    if let Ok(pairs) = crate::train::pairs::pairs_from_jsonl(&text(data)) {
        for p in &pairs {
            assert!(!p.user().trim().is_empty());
            assert!(!p.chosen_text().trim().is_empty() && !p.rejected_text().trim().is_empty());
        }
    }
}

/// A trace file as the page's import reads it.
pub fn trace_json(data: &[u8]) {
    let Ok(file) = TraceFile::parse(&text(data)) else {
        return;
    };
    assert_eq!(file.version, crate::page_data::trace_file::VERSION);
    let _ = file.file_name();
    let _ = file.config.validate();
    let json = serde_json::to_string(&file).expect("a trace serializes");
    let _ = TraceFile::parse(&json);
}

/// The address bar's settings: the input is a query string
/// (`alpha=E:0.5&w=1,2&backend=cpu`), each value given to the parser the
/// page uses for it.
pub fn url_state(data: &[u8]) {
    use crate::page_data::protocol::BackendChoice;
    let names: Vec<&str> = real().expert_names.iter().map(String::as_str).collect();
    let query = text(data);
    for pair in query.trim_start_matches('?').split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key.trim_start_matches("b_") {
            "alpha" => {
                let (alphas, _) = url_params::parse_alphas(value, &names);
                assert_eq!(alphas.len(), names.len());
                assert!(alphas
                    .iter()
                    .all(|a| a.is_finite() && a.abs() <= url_params::ALPHA_LIMIT));
            }
            "w" => {
                if let Ok(w) = url_params::parse_weights(value) {
                    assert!(!w.is_empty() && w.iter().all(|x| x.is_finite()));
                }
            }
            "backend" => {
                let _ = value.parse::<BackendChoice>();
            }
            "method" => {
                let _ = value.parse::<crate::steer::Method>();
            }
            _ => {
                let _ = url_params::slug(value);
            }
        }
    }
}

/// Page ↔ worker messages (JSON: the same serde impls serde-wasm-bindgen
/// uses); a command that validates must survive the trip again.
pub fn worker_protocol(data: &[u8]) {
    if let Ok(cmd) = serde_json::from_slice::<Command>(data) {
        let valid = match &cmd {
            Command::Run(r) => r.config.validate().is_ok(),
            Command::Probe(p) => p.config.validate().is_ok(),
            Command::Generate(g) => g.sampling.validate().is_ok(),
            _ => true,
        };
        if valid {
            let json = serde_json::to_string(&cmd).expect("a command serializes");
            if let Err(e) = serde_json::from_str::<Command>(&json) {
                panic!("a valid command does not read back: {e}: {json}");
            }
        }
    }
    if let Ok(event) = serde_json::from_slice::<Event>(data) {
        let _ = serde_json::to_string(&event);
    }
}

/// The real tokenizer over arbitrary text (invalid UTF-8 lossily
/// converted): ids in the vocabulary, no control ids from plain text, and
/// decode(encode(text)) == text unless the text holds a byte the vocabulary
/// lacks (dropped); the streaming decoder agrees with decode.
pub fn tokenizer(data: &[u8]) {
    let tok = &real().tokenizer;
    let text = text(data);
    let ids = tok.encode(&text).expect("plain text always encodes");
    assert!(ids.iter().all(|&i| (i as usize) < tok.vocab_size()));
    assert!(
        !ids.iter().any(|&i| tok.is_control(i)),
        "control id from plain text"
    );
    let back = tok.decode(&ids).expect("encoded ids decode");
    if !text.bytes().any(|b| real().dropped[b as usize]) {
        assert_eq!(back, text, "decode(encode(text)) differs");
    }
    let mut stream = crate::model::tokenizer::TextStream::default();
    let mut streamed = String::new();
    let few = &ids[..ids.len().min(48)];
    for &id in few {
        streamed.push_str(&stream.push(tok, id).expect("stream decodes"));
    }
    streamed.push_str(&stream.finish(tok).expect("stream finishes"));
    assert_eq!(streamed, tok.decode(few).expect("decodes"));
    let _ = tok.encode_with_specials(&text);
    // the raw bytes as ids, in and past the vocabulary
    let raw: Vec<u32> = data
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .collect();
    let _ = tok.decode(&raw);
}

/// The real chat template over messages cut from the input at NUL bytes,
/// each message's first byte picking its role: a rendered prompt keeps every
/// content as plain text, so the only `<|im_start|>` / `<|im_end|>` ids are
/// the ones the template itself wrote.
pub fn chat_template(data: &[u8]) {
    let r = real();
    let roles = [Role::System, Role::User, Role::Assistant];
    let messages: Vec<ChatMessage> = data
        .split(|&b| b == 0)
        .filter_map(|m| m.split_first())
        .map(|(&role, content)| ChatMessage::new(roles[role as usize % 3], &text(content)))
        .collect();
    let Ok(prompt) = r.template.render_prompt(&messages) else {
        return;
    };
    let contents: Vec<&str> = prompt
        .pieces
        .iter()
        .filter_map(|p| match p {
            PromptPiece::Content(c) => Some(c.as_str()),
            PromptPiece::Template(_) => None,
        })
        .collect();
    let typed: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, typed, "contents changed by rendering");
    let ids = r
        .tokenizer
        .encode_prompt(&prompt)
        .expect("a rendered prompt encodes");
    for marker in ["<|im_start|>", "<|im_end|>"] {
        let id = r.tokenizer.token_id(marker).expect("ChatML marker");
        let written: usize = prompt
            .pieces
            .iter()
            .map(|p| match p {
                PromptPiece::Template(t) => t.matches(marker).count(),
                PromptPiece::Content(_) => 0,
            })
            .sum();
        let got = ids.iter().filter(|&&i| i == id).count();
        assert_eq!(
            got, written,
            "{marker}: a message's text became a control token"
        );
    }
}
