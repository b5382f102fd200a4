//! The worker's error value: a typed `kind` (`ErrorKind`) and a message a person can
//! act on. Engine errors keep their own kind (`invalid_input`, ...); the
//! worker adds its own (`model_fetch`, `not_ready`, `busy`, `bad_command`).
//! A lost GPU device also keeps its reason, for the switch to the CPU.

use super::protocol::{ErrorKind, Event};

#[derive(Debug, Clone)]
pub(crate) struct WorkerError {
    pub kind: ErrorKind,
    pub message: String,
    /// Why the GPU device was lost, when that is the error.
    pub lost: Option<String>,
}

impl WorkerError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            lost: None,
        }
    }

    pub(crate) fn event(&self) -> Event {
        Event::error(self.kind, self.message.clone())
    }
}

impl From<crate::Error> for WorkerError {
    fn from(e: crate::Error) -> Self {
        let lost = match &e {
            crate::Error::DeviceLost(why) => Some(why.clone()),
            _ => None,
        };
        Self {
            lost,
            ..Self::new(ErrorKind::from(&e), e.to_string())
        }
    }
}
