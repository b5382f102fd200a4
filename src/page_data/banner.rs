//! The error banner's words, as pure data: a title saying what went wrong
//! and a hint saying what to do, for each [`ErrorKind`] (the worker's and
//! the page's own). Drawn by `crate::app::banner`.

use super::protocol::ErrorKind;

/// The visible error: what happened and what to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Banner {
    pub kind: ErrorKind,
    pub title: String,
    pub message: String,
    pub hint: String,
}

impl Banner {
    /// Errors that a retry can fix (the banner offers "Try again").
    pub(crate) fn offers_retry(&self) -> bool {
        self.kind.is_model_load()
    }

    /// An error that a model which became ready has made obsolete.
    pub(crate) fn stale_once_ready(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::ModelFetch
                | ErrorKind::ModelFile
                | ErrorKind::NotReady
                | ErrorKind::Panic
                | ErrorKind::WorkerCrashed
        )
    }
}

/// Title and advice for an error `kind` from the worker or the page.
pub(crate) fn describe(kind: ErrorKind, message: &str) -> Banner {
    use ErrorKind as K;
    let (title, hint) = match kind {
        K::InvalidInput if !message.contains("message is empty") => (
            "Those method settings can't run",
            "Change the method, persona or weights (or “Advanced settings”), then send again.",
        ),
        K::InvalidInput => (
            "That message can't be sent",
            "Type a message in the box below, then press Enter or Send.",
        ),
        K::InvalidSettings => (
            "A setting is out of range",
            "Fix the value under “Advanced settings”, then send again.",
        ),
        K::ContextOverflow => (
            "The conversation is too long",
            "Start a new chat or shorten the message or system prompt.",
        ),
        K::ModelFetch => (
            "The model could not be downloaded",
            "Check your connection, then press “Try again”.",
        ),
        K::ModelFile | K::UnsupportedModel | K::Tokenizer | K::Template => (
            "The model file could not be used",
            "The file may be damaged or a different model; press “Try again” to download it again.",
        ),
        K::Adapter => (
            "That adapter can't be used",
            "Choose a PEFT LoRA adapter trained for SmolLM2-135M-Instruct: its adapter_config.json and adapter_model.safetensors together. The chat goes on without it.",
        ),
        K::TraceFile => (
            "That trace can't be replayed",
            "Choose a JSON file saved with “Export trace” or written by persona run --trace.",
        ),
        K::Clipboard => (
            "The link was not copied",
            "Copy it from the address bar: it always holds the current settings.",
        ),
        K::NotReady => (
            "The model is still loading",
            "Wait until the progress bar says the model is ready, then send again.",
        ),
        K::Busy => (
            "Still answering",
            "Wait for the current answer, or press Cancel first.",
        ),
        K::Panic | K::WorkerCrashed => (
            "The model worker stopped unexpectedly",
            "It is restarting by itself; your conversation is kept. Send your message again once the model is ready.",
        ),
        K::BackendParam => (
            "Unknown backend in the address",
            "Fix or remove ?backend= in the address bar and reload to choose again.",
        ),
        K::UrlAlpha | K::UrlWeights | K::UrlParam => (
            "A setting in the link was not used",
            "The page uses its own value instead (see the sliders); fix or remove it in the address bar to share this setting.",
        ),
        K::WebgpuUnavailable => (
            "WebGPU could not start, so the model runs on the CPU",
            "Answers are the same, usually slower. Use a browser with WebGPU enabled, or drop “backend=webgpu” from the address.",
        ),
        K::GpuLost => (
            "The GPU stopped working; the model now runs on the CPU",
            "Your conversation is kept and the answer is written again on the CPU (slower). Reload the page to use the GPU again.",
        ),
        K::DeviceLost => (
            "The GPU stopped working",
            "Reload the page; add ?backend=cpu to the address to run on the CPU from the start.",
        ),
        K::WorkerGaveUp => (
            "The model worker keeps crashing",
            "Reload the page. If it happens again, your browser may be out of memory.",
        ),
        _ => (
            "Something went wrong",
            "Try again; if it persists, reload the page.",
        ),
    };
    Banner {
        kind,
        title: title.to_string(),
        message: capitalize(message),
        hint: hint.to_string(),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_say_what_to_do() {
        let b = describe(ErrorKind::ModelFetch, "the download failed");
        assert_eq!(b.title, "The model could not be downloaded");
        assert_eq!(b.message, "The download failed");
        assert!(b.offers_retry() && b.stale_once_ready());
        let b = describe(ErrorKind::InvalidInput, "the message is empty");
        assert_eq!(b.title, "That message can't be sent");
        let b = describe(ErrorKind::InvalidInput, "α must be finite");
        assert_eq!(b.title, "Those method settings can't run");
        let b = describe(ErrorKind::GpuLost, "the GPU was lost (reset)");
        assert!(!b.offers_retry() && !b.stale_once_ready());
        assert_eq!(
            describe(ErrorKind::Unknown, "x").title,
            "Something went wrong"
        );
    }
}
