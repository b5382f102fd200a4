//! [`Engine`]: a GGUF loaded onto a backend (CPU or WebGPU) with its
//! tokenizer and chat template, and the chat prompts it renders (checked
//! against the context before any compute).

use crate::backend::cpu::{CpuBackend, WeightMode};
use crate::backend::webgpu::WebGpuBackend;
use crate::backend::Backend;
use crate::engine::memo::RunCache;
use crate::engine::prefix_cache::{parse_budget_mb, DEFAULT_CACHE_MB};
use crate::model::{ChatMessage, ChatTemplate, GgufFile, LlamaConfig, Role, Tokenizer};
use crate::{Error, Result};

pub struct Engine<B: Backend> {
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub backend: B,
    /// What runs leave for later runs: KV rows by prefix, PDD's importance.
    pub cache: RunCache,
}

impl Engine<CpuBackend> {
    /// Loads a GGUF onto the CPU backend.
    pub fn load_cpu(file: &GgufFile, mode: WeightMode) -> Result<Self> {
        let config = LlamaConfig::from_gguf(file)?;
        Self::with_backend(file, CpuBackend::new(file, &config, mode)?)
    }
}

impl Engine<WebGpuBackend> {
    /// Loads a GGUF onto the WebGPU backend (the platform's adapter).
    pub async fn load_webgpu(file: &GgufFile) -> Result<Self> {
        let config = LlamaConfig::from_gguf(file)?;
        let backend = WebGpuBackend::new(file, &config).await?;
        Self::with_backend(file, backend)
    }
}

impl<B: Backend> Engine<B> {
    /// The tokenizer and chat template of `file` around a loaded backend.
    pub fn with_backend(file: &GgufFile, backend: B) -> Result<Self> {
        let tokenizer = Tokenizer::from_gguf(file)?;
        let template = ChatTemplate::from_gguf(
            file,
            tokenizer.token_text(tokenizer.bos_id),
            tokenizer.token_text(tokenizer.eos_id),
        )?;
        let budget = parse_budget_mb(DEFAULT_CACHE_MB)?;
        Ok(Self {
            tokenizer,
            template,
            cache: RunCache::new(backend.config(), budget),
            backend,
        })
    }

    /// Sets the prefix cache's budget in MiB (0 turns it off), evicting
    /// what no longer fits; an invalid budget is refused.
    pub fn set_cache_mb(&mut self, mb: f64) -> Result<()> {
        let bytes = parse_budget_mb(mb)?;
        self.cache.prefix.set_budget(&mut self.backend, bytes);
        Ok(())
    }

    /// Forgets everything kept across runs.
    pub fn clear_cache(&mut self) {
        self.cache.prefix.clear(&mut self.backend);
        self.cache.importance.clear();
    }

    pub fn config(&self) -> &LlamaConfig {
        self.backend.config()
    }

    /// Token ids of a one-turn chat: optional system prompt, then the user's message.
    pub fn chat_prompt(&self, system: Option<&str>, user: &str) -> Result<Vec<u32>> {
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(ChatMessage::new(Role::System, s));
        }
        messages.push(ChatMessage::new(Role::User, user));
        self.chat_prompt_messages(&messages)
    }

    /// Token ids of a whole conversation (the last message is the user's).
    /// Only the template's markers are control tokens: message contents are
    /// plain text, whatever they contain.
    pub fn chat_prompt_messages(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        match messages.last() {
            Some(m) if m.role == Role::User && !m.content.trim().is_empty() => {}
            Some(m) if m.role == Role::User => {
                return Err(Error::InvalidInput(
                    "the message is empty; type something to send".into(),
                ))
            }
            _ => {
                return Err(Error::InvalidInput(
                    "a conversation must end with a user message".into(),
                ))
            }
        }
        let prompt = self.template.render_prompt(messages)?;
        let ids = self.tokenizer.encode_prompt(&prompt)?;
        let context = self.config().context;
        if ids.len() >= context {
            return Err(Error::ContextOverflow {
                tokens: ids.len(),
                context,
            });
        }
        Ok(ids)
    }
}
