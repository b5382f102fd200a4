//! Typed errors: every failure a person can cause (bad files, bad settings)
//! becomes a value with a message that says what to do about it.

/// Everything that can go wrong between a file on disk and a generated token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file is missing, truncated or not a GGUF file at all.
    #[error("cannot read the model file: {0}")]
    ModelFile(String),
    /// A well-formed GGUF that this engine cannot run (architecture, tensor types).
    #[error("unsupported model: {0}")]
    UnsupportedModel(String),
    /// The tokenizer metadata is missing or inconsistent.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// A setting or input that makes no sense (empty message, k = 0, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The prompt does not fit in the model's context window.
    #[error("the prompt is {tokens} tokens but the context holds {context}; shorten the message, the conversation or the system prompt")]
    ContextOverflow { tokens: usize, context: usize },
    /// The compute backend failed (bad row id, a limit the adapter lacks, ...).
    #[error("backend: {0}")]
    Backend(String),
    /// The GPU device is gone (driver reset, tab in the background too long,
    /// out of memory, a failed validation): nothing more runs on it, the CPU
    /// backend must take over.
    #[error("the GPU device was lost: {0}; use the CPU backend (?backend=cpu) or reload the page")]
    DeviceLost(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Short machine-readable kind, used by the CLI's JSON output and the page's banner.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ModelFile(_) => "model_file",
            Error::UnsupportedModel(_) => "unsupported_model",
            Error::Tokenizer(_) => "tokenizer",
            Error::Template(_) => "template",
            Error::InvalidInput(_) => "invalid_input",
            Error::ContextOverflow { .. } => "context_overflow",
            Error::Backend(_) => "backend",
            Error::DeviceLost(_) => "device_lost",
        }
    }
}
