//! Model formats: the GGUF container, the llama hyper-parameters it carries,
//! the tokenizer and chat template stored in its metadata, and the weights
//! prepared for the compute backends.

pub mod chat_template;
pub mod config;
pub mod gguf;
mod gguf_scan;
pub mod lora;
pub mod tokenizer;
pub mod validate;

pub use chat_template::{ChatMessage, ChatTemplate, PromptPiece, RenderedPrompt, Role};
pub use config::LlamaConfig;
pub use gguf::GgufFile;
pub use tokenizer::Tokenizer;
