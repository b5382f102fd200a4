//! The chat prompt, rendered from the Jinja template stored in the GGUF
//! (`tokenizer.chat_template`) with minijinja: no hand-written ChatML.
//!
//! `render_prompt` keeps what the template wrote apart from what the messages
//! carry, so that only the template's own markers become control tokens
//! (`Tokenizer::encode_prompt`): a message cannot close its turn or open one.

use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};

use super::GgufFile;
use crate::{Error, Result};

/// Who says a message: the only roles there are (a role is written into
/// the template's own text, where control tokens are recognised, so it is
/// never free text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        [Role::System, Role::User, Role::Assistant]
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "a message has the role '{}'; roles are system, user and assistant",
                    s.escape_debug()
                ))
            })
    }
}

/// One message of a conversation (also a steered run's earlier turn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: &str) -> Self {
        Self {
            role,
            content: content.to_string(),
        }
    }
}

/// One stretch of a rendered prompt: the template's own text (control tokens
/// recognised) or a message's content (plain text).
#[derive(Debug, Clone, PartialEq)]
pub enum PromptPiece {
    Template(String),
    Content(String),
}

/// A rendered prompt as pieces, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedPrompt {
    pub pieces: Vec<PromptPiece>,
}

impl RenderedPrompt {
    /// The prompt as one string (what the Jinja template renders).
    pub fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                PromptPiece::Template(t) | PromptPiece::Content(t) => t.as_str(),
            })
            .collect()
    }
}

/// Stands for message `i`'s content while the template renders: private-use
/// characters the template's own text does not contain.
fn placeholder(i: usize) -> String {
    format!("\u{E000}{i}\u{E001}")
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
        Ok(self.render_prompt(messages)?.text())
    }

    /// The prompt for `messages` as template text and message contents: the
    /// template renders placeholders, each of which must come out exactly
    /// once and unchanged, and is then replaced by its message's content.
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<RenderedPrompt> {
        let stand_ins: Vec<ChatMessage> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| ChatMessage::new(m.role, &placeholder(i)))
            .collect();
        let rendered = self.render_raw(&stand_ins)?;
        let mut at: Vec<(usize, usize)> = Vec::with_capacity(messages.len());
        for i in 0..messages.len() {
            let mark = placeholder(i);
            let found: Vec<usize> = rendered.match_indices(&mark).map(|(p, _)| p).collect();
            match found[..] {
                [p] => at.push((p, i)),
                _ => {
                    return Err(Error::Template(format!(
                    "the GGUF's template writes message {i}'s content {} times (once expected): \
                         it cannot be rendered with the content kept as plain text",
                    found.len()
                )))
                }
            }
        }
        at.sort_unstable();
        let mut pieces = Vec::with_capacity(2 * at.len() + 1);
        let mut from = 0;
        for (p, i) in at {
            if p > from {
                pieces.push(PromptPiece::Template(rendered[from..p].to_string()));
            }
            pieces.push(PromptPiece::Content(messages[i].content.clone()));
            from = p + placeholder(i).len();
        }
        if from < rendered.len() {
            pieces.push(PromptPiece::Template(rendered[from..].to_string()));
        }
        let altered =
            |p: &PromptPiece| matches!(p, PromptPiece::Template(t) if t.contains('\u{E000}'));
        if pieces.iter().any(altered) {
            return Err(Error::Template(
                "the GGUF's template changes message contents; it cannot be rendered with the \
                 content kept as plain text"
                    .into(),
            ));
        }
        Ok(RenderedPrompt { pieces })
    }

    fn render_raw(&self, messages: &[ChatMessage]) -> Result<String> {
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
