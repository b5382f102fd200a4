//! The worker's error value: a short `kind` code and a message a person can
//! act on. Engine errors keep their own kind (`invalid_input`, ...); the
//! worker adds its own (`model_fetch`, `not_ready`, `busy`, `bad_command`).

use super::protocol::Event;

#[derive(Debug, Clone)]
pub struct WorkerError {
    pub kind: String,
    pub message: String,
}

impl WorkerError {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    pub fn event(&self) -> Event {
        Event::error(&self.kind, self.message.clone())
    }
}

impl From<crate::Error> for WorkerError {
    fn from(e: crate::Error) -> Self {
        Self::new(e.kind(), e.to_string())
    }
}
