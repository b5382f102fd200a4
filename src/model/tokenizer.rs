//! The tokenizer, rebuilt from GGUF metadata with the `tokenizers` crate:
//! byte-level BPE over the stored vocab and merges, SmolLM's pre-tokenizer
//! (single digits, then GPT-2 byte-level without a prefix space), and the
//! control tokens (GGUF token type 3) as special tokens. Verified against
//! llama.cpp's ids in tests/fixtures/tokenizer.json.
//!
//! Text is plain text: a control token typed into a message, persona or file
//! is tokenized as its characters (llama.cpp's `parse_special = false`).
//! Control tokens come only from the chat template's own markers
//! (`encode_prompt`) or from an explicit request (`encode_with_specials`).

use ahash::AHashMap;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper};

use super::chat_template::{PromptPiece, RenderedPrompt};
use super::GgufFile;
use crate::{Error, Result};

/// GGUF token type of control tokens (`<|im_start|>`, `<|endoftext|>`, ...).
const TOKEN_TYPE_CONTROL: i32 = 3;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub bos_id: u32,
    pub eos_id: u32,
    vocab_size: usize,
    /// The control tokens' strings and ids, longest first (leftmost-longest matching).
    specials: Vec<(String, u32)>,
}

impl Tokenizer {
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let model = file.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Tokenizer(format!(
                "tokenizer model '{model}' is not supported (byte-level BPE 'gpt2' only)"
            )));
        }
        let tokens: Vec<String> = file
            .get_array("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| v.to_string().cloned())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Tokenizer(format!("tokens: {e}")))?;
        let merges: Vec<(String, String)> = file
            .get_array("tokenizer.ggml.merges")?
            .iter()
            .map(|v| {
                let s = v.to_string().map_err(|e| Error::Tokenizer(e.to_string()))?;
                s.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| Error::Tokenizer(format!("malformed merge '{s}'")))
            })
            .collect::<Result<_>>()?;
        let types: Vec<i32> = match file.get_array("tokenizer.ggml.token_type") {
            Ok(t) => t.iter().map(|v| v.to_i32().unwrap_or(1)).collect(),
            Err(_) => vec![1; tokens.len()],
        };
        let vocab: AHashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building BPE: {e}")))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let pre: Vec<PreTokenizerWrapper> = vec![
            Digits::new(true).into(),
            ByteLevel::new(false, true, true).into(),
        ];
        inner.with_pre_tokenizer(Some(Sequence::new(pre)));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let mut specials: Vec<(String, u32)> = tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (_, &ty))| ty == TOKEN_TYPE_CONTROL)
            .map(|(id, (t, _))| (t.clone(), id as u32))
            .filter(|(t, _)| !t.is_empty())
            .collect();
        specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        // Registered so that decoding skips them; never matched while encoding
        // (`encode_special_tokens`): we split at control tokens ourselves.
        inner
            .add_special_tokens(
                specials
                    .iter()
                    .map(|(t, _)| AddedToken::from(t.clone(), true))
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| Error::Tokenizer(format!("special tokens: {e}")))?;
        inner.set_encode_special_tokens(true);
        let bos_id = file.get_usize("tokenizer.ggml.bos_token_id")? as u32;
        let eos_id = file.get_usize("tokenizer.ggml.eos_token_id")? as u32;
        Ok(Self {
            inner,
            bos_id,
            eos_id,
            vocab_size: tokens.len(),
            specials,
        })
    }

    /// Token ids of `text` as plain text: a control token written in it
    /// (`<|im_end|>`) is tokenized as its characters, never as the control id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Tokenizer(format!("encoding: {e}")))
    }

    /// Token ids of `text` with control tokens written in it recognised
    /// (llama.cpp's `parse_special = true`): for the template's own text and
    /// `persona tokenize --parse-special`, never for what a person typed.
    pub fn encode_with_specials(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut plain = String::new();
        self.split_specials(text, &mut plain, &mut ids)?;
        self.flush(&mut plain, &mut ids)?;
        Ok(ids)
    }

    /// Token ids of a rendered chat prompt: control tokens in the template's
    /// text, every message's content as plain text. Text on both sides of a
    /// content boundary is tokenized together, so a prompt without typed
    /// control tokens gets exactly the ids of its whole text.
    pub fn encode_prompt(&self, prompt: &RenderedPrompt) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut plain = String::new();
        for piece in &prompt.pieces {
            match piece {
                PromptPiece::Template(text) => self.split_specials(text, &mut plain, &mut ids)?,
                PromptPiece::Content(text) => plain.push_str(text),
            }
        }
        self.flush(&mut plain, &mut ids)?;
        Ok(ids)
    }

    /// Appends `text` to the pending plain text, emitting the pending text's
    /// ids and then the control id at each control token (leftmost, longest).
    fn split_specials(&self, text: &str, plain: &mut String, ids: &mut Vec<u32>) -> Result<()> {
        let mut rest = text;
        while !rest.is_empty() {
            let next = self
                .specials
                .iter()
                .filter_map(|(s, id)| rest.find(s.as_str()).map(|at| (at, s.len(), *id)))
                .min_by_key(|&(at, len, _)| (at, std::cmp::Reverse(len)));
            let Some((at, len, id)) = next else {
                plain.push_str(rest);
                break;
            };
            plain.push_str(&rest[..at]);
            self.flush(plain, ids)?;
            ids.push(id);
            rest = &rest[at + len..];
        }
        Ok(())
    }

    fn flush(&self, plain: &mut String, ids: &mut Vec<u32>) -> Result<()> {
        ids.extend(self.encode(plain)?);
        plain.clear();
        Ok(())
    }

    /// Whether `id` is a control token (`<|im_start|>`, `<|im_end|>`, ...).
    pub fn is_control(&self, id: u32) -> bool {
        self.specials.iter().any(|&(_, s)| s == id)
    }

    /// Text of `ids`, special tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= self.vocab_size) {
            return Err(Error::Tokenizer(format!(
                "token id {bad} is outside the vocabulary ({} tokens)",
                self.vocab_size
            )));
        }
        self.inner
            .decode(ids, true)
            .map_err(|e| Error::Tokenizer(format!("decoding: {e}")))
    }

    /// The token's string as stored in the vocabulary (byte-level form).
    pub fn token_text(&self, id: u32) -> String {
        self.inner.id_to_token(id).unwrap_or_default()
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }
}

/// Turns a growing list of generated ids into text deltas, holding back bytes
/// of a UTF-8 character that is split across tokens.
#[derive(Default)]
pub struct TextStream {
    ids: Vec<u32>,
    emitted: usize,
}

impl TextStream {
    /// Adds one token; returns the text that became complete, if any.
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String> {
        self.ids.push(id);
        let text = tokenizer.decode(&self.ids)?;
        if text.ends_with('\u{FFFD}') || text.len() < self.emitted {
            return Ok(String::new());
        }
        let delta = text[self.emitted..].to_string();
        self.emitted = text.len();
        Ok(delta)
    }

    /// Whatever is left (a trailing partial character, shown as U+FFFD).
    pub fn finish(&mut self, tokenizer: &Tokenizer) -> Result<String> {
        let text = tokenizer.decode(&self.ids)?;
        let delta = text.get(self.emitted..).unwrap_or("").to_string();
        self.emitted = text.len();
        Ok(delta)
    }
}
