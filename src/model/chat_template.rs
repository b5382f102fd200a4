//! The chat prompt, rendered from the Jinja template stored in the GGUF
//! (`tokenizer.chat_template`) with minijinja: no hand-written ChatML.

use minijinja::{context, Environment};
use serde::Serialize;

use super::GgufFile;
use crate::{Error, Result};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: &str, content: &str) -> Self {
        Self {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

impl ChatTemplate {
    pub fn from_gguf(file: &GgufFile, bos: String, eos: String) -> Result<Self> {
        let source = file.get_str("tokenizer.chat_template")?.to_string();
        let mut env = Environment::new();
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_template_owned("chat", source)
            .map_err(|e| Error::Template(format!("the GGUF's template does not parse: {e}")))?;
        Ok(Self { env, bos, eos })
    }

    /// The prompt text for `messages`, ending with the assistant's turn opener.
    pub fn render(&self, messages: &[ChatMessage]) -> Result<String> {
        let template = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Template(e.to_string()))?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => true,
                bos_token => &self.bos,
                eos_token => &self.eos,
            })
            .map_err(|e| Error::Template(format!("rendering: {e}")))
    }
}
