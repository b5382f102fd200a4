//! The error banner: what went wrong in words, what to do next, and a way to
//! dismiss it. The page stays usable underneath; `describe` turns an error
//! kind from the worker into a title and a hint.

use leptos::prelude::*;

use super::state::{AppState, Banner};

/// Title and advice for an error `kind` from the worker or the page.
pub fn describe(kind: &str, message: &str) -> Banner {
    let (title, hint) = match kind {
        "invalid_input" if !message.contains("message is empty") => (
            "Those method settings can't run",
            "Change the method, persona or weights (or “Advanced settings”), then send again.",
        ),
        "invalid_input" => (
            "That message can't be sent",
            "Type a message in the box below, then press Enter or Send.",
        ),
        "invalid_settings" => (
            "A setting is out of range",
            "Fix the value under “Advanced settings”, then send again.",
        ),
        "context_overflow" => (
            "The conversation is too long",
            "Start a new chat or shorten the message or system prompt.",
        ),
        "model_fetch" => (
            "The model could not be downloaded",
            "Check your connection, then press “Try again”.",
        ),
        "model_file" | "unsupported_model" | "tokenizer" | "template" => (
            "The model file could not be used",
            "The file may be damaged or a different model; press “Try again” to download it again.",
        ),
        "adapter" => (
            "That adapter can't be used",
            "Choose a PEFT LoRA adapter trained for SmolLM2-135M-Instruct: its adapter_config.json and adapter_model.safetensors together. The chat goes on without it.",
        ),
        "trace_file" => (
            "That trace can't be replayed",
            "Choose a JSON file saved with “Export trace” or written by persona run --trace.",
        ),
        "clipboard" => (
            "The link was not copied",
            "Copy it from the address bar: it always holds the current settings.",
        ),
        "not_ready" => (
            "The model is still loading",
            "Wait until the progress bar says the model is ready, then send again.",
        ),
        "busy" => (
            "Still answering",
            "Wait for the current answer, or press Cancel first.",
        ),
        "panic" | "worker_crashed" => (
            "The model worker stopped unexpectedly",
            "It is restarting by itself; your conversation is kept. Send your message again once the model is ready.",
        ),
        "backend_param" => (
            "Unknown backend in the address",
            "Fix or remove ?backend= in the address bar and reload to choose again.",
        ),
        "url_alpha" | "url_weights" | "url_param" => (
            "A setting in the link was not used",
            "The page uses its own value instead (see the sliders); fix or remove it in the address bar to share this setting.",
        ),
        "webgpu_unavailable" => (
            "WebGPU could not start, so the model runs on the CPU",
            "Answers are the same, usually slower. Use a browser with WebGPU enabled, or drop “backend=webgpu” from the address.",
        ),
        "gpu_lost" => (
            "The GPU stopped working; the model now runs on the CPU",
            "Your conversation is kept and the answer is written again on the CPU (slower). Reload the page to use the GPU again.",
        ),
        "device_lost" => (
            "The GPU stopped working",
            "Reload the page; add ?backend=cpu to the address to run on the CPU from the start.",
        ),
        "worker_gave_up" => (
            "The model worker keeps crashing",
            "Reload the page. If it happens again, your browser may be out of memory.",
        ),
        _ => (
            "Something went wrong",
            "Try again; if it persists, reload the page.",
        ),
    };
    Banner {
        kind: kind.to_string(),
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

#[component]
pub fn ErrorBanner(
    /// Shown as a "Try again" button for errors that a retry can fix.
    on_retry: Callback<()>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.banner.get().map(|b| {
            let retry = matches!(
                b.kind.as_str(),
                "model_fetch" | "model_file" | "unsupported_model" | "tokenizer" | "template"
            );
            view! {
                <div class="banner" role="alert" data-kind=b.kind.clone()>
                    <div class="banner-body">
                        <p class="banner-title">{b.title.clone()}</p>
                        <p class="banner-message">{b.message.clone()}</p>
                        <p class="banner-hint">{b.hint.clone()}</p>
                    </div>
                    <div class="banner-actions">
                        {retry
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        class="button"
                                        on:click=move |_| on_retry.run(())
                                    >
                                        "Try again"
                                    </button>
                                }
                            })}
                        <button
                            type="button"
                            class="button quiet"
                            aria-label="Dismiss the error"
                            on:click=move |_| state.banner.set(None)
                        >
                            "Dismiss"
                        </button>
                    </div>
                </div>
            }
        })
    }
}
