//! Model formats: the GGUF container, the llama hyper-parameters it carries,
//! the tokenizer and chat template stored in its metadata, LoRA adapters,
//! and where the project's model file lives (`default_model_path`).

pub mod chat_template;
pub mod config;
pub mod gguf;
mod gguf_scan;
pub mod lora;
mod paths;
pub mod tokenizer;
pub mod validate;

pub use chat_template::{ChatMessage, ChatTemplate, PromptPiece, RenderedPrompt, Role};
pub use config::LlamaConfig;
pub use gguf::GgufFile;
pub use paths::default_model_path;
pub use tokenizer::Tokenizer;
