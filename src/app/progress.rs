//! The model status line: a progress bar with bytes, percentage and time
//! left while the model downloads (or is read back from the browser cache),
//! then a badge naming the backend ("WebGPU (SwiftShader)", "CPU (wasm
//! simd128)"; its tooltip says why not WebGPU, when it is not), the load
//! time and where the model came from.

use leptos::prelude::*;

use super::format;
use super::state::{is_gpu_label, AppState, Lane, LoadStatus};

fn cache_words(cache: &str) -> String {
    match cache {
        "hit" => "from the browser cache".to_string(),
        "stored" => "downloaded and saved for next time".to_string(),
        other => match other.strip_prefix("memory-only") {
            Some(reason) => format!("downloaded, but not saved for next time {}", reason.trim()),
            None => other.to_string(),
        },
    }
}

fn lane_b_code(load: &LoadStatus) -> &'static str {
    match load {
        LoadStatus::Ready { .. } => "ready",
        LoadStatus::Failed => "failed",
        _ => "loading",
    }
}

/// One line for the compare lane's worker.
fn lane_b_words(load: &LoadStatus) -> String {
    match load {
        LoadStatus::Off | LoadStatus::Starting => "Compare worker starting…".into(),
        LoadStatus::Downloading { loaded, total, .. } => match total {
            Some(t) => format!(
                "Compare worker loading the model · {:.0}%",
                format::percent(*loaded, *t)
            ),
            None => format!("Compare worker loading · {}", format::bytes(*loaded)),
        },
        LoadStatus::Preparing { .. } => "Compare worker preparing the model…".into(),
        LoadStatus::Ready { label, .. } => format!("Compare worker ready · {label}"),
        LoadStatus::Failed => "The compare worker could not load the model".into(),
    }
}

#[component]
pub(crate) fn ModelStatus() -> impl IntoView {
    let state = expect_context::<AppState>();
    let load = state.load(Lane::A);
    let status_attr = move || match load.get() {
        LoadStatus::Off | LoadStatus::Starting => "starting",
        LoadStatus::Downloading { .. } => "downloading",
        LoadStatus::Preparing { .. } => "preparing",
        LoadStatus::Ready { .. } => "ready",
        LoadStatus::Failed => "failed",
    };
    let cache_attr = move || match load.get() {
        LoadStatus::Ready { cache, .. } => Some(
            cache
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        _ => None,
    };
    let backend_attr = move || match load.get() {
        LoadStatus::Ready { backend, .. } => Some(backend),
        _ => None,
    };
    let label_attr = move || load.with(LoadStatus::label);
    let not_gpu_attr = move || match load.get() {
        LoadStatus::Ready { not_gpu, .. } => not_gpu,
        _ => None,
    };
    let threads_attr = move || match load.get() {
        LoadStatus::Ready { threads, .. } => Some(threads),
        _ => None,
    };
    let threads_note_attr = move || match load.get() {
        LoadStatus::Ready { threads_note, .. } => threads_note,
        _ => None,
    };
    // Screen readers hear the phases, not every progress tick.
    let announce = move || match load.get() {
        LoadStatus::Off | LoadStatus::Starting => "Starting the model",
        LoadStatus::Downloading {
            from_cache: true, ..
        } => "Reading the model from the cache",
        LoadStatus::Downloading { .. } => "Downloading the model",
        LoadStatus::Preparing { .. } => "Preparing the model",
        LoadStatus::Ready { .. } => "Model ready",
        LoadStatus::Failed => "The model could not be loaded",
    };
    let body = move || match load.get() {
        LoadStatus::Off | LoadStatus::Starting => view! {
            <p class="status-line">"Starting the model worker…"</p>
            <progress class="bar" aria-label="Model loading"></progress>
        }
        .into_any(),
        LoadStatus::Downloading {
            loaded,
            total,
            from_cache,
            started_ms,
        } => {
            let verb = if from_cache {
                "Reading the model from the browser cache"
            } else {
                "Downloading the model"
            };
            let detail = match total {
                Some(t) => {
                    let pct = format::percent(loaded, t);
                    let eta = format::eta_ms(loaded, t, js_sys::Date::now() - started_ms)
                        .map(|ms| format!(" · about {} left", format::duration_ms(ms)))
                        .unwrap_or_default();
                    format!(
                        "{} of {} · {pct:.0}%{eta}",
                        format::bytes(loaded),
                        format::bytes(t)
                    )
                }
                None => format!("{} so far", format::bytes(loaded)),
            };
            let value = total.map(|t| format::percent(loaded, t));
            view! {
                <p class="status-line">
                    <span>{verb}</span>
                    <span class="status-detail">{detail}</span>
                </p>
                <progress class="bar" max="100" value=value aria-label="Model download"></progress>
            }
            .into_any()
        }
        LoadStatus::Preparing { from_cache } => view! {
            <p class="status-line">
                <span>"Preparing the model…"</span>
                <span class="status-detail">
                    {if from_cache { "read from the browser cache" } else { "download complete" }}
                </span>
            </p>
            <progress class="bar" aria-label="Preparing the model"></progress>
        }
        .into_any(),
        LoadStatus::Ready {
            backend,
            label,
            not_gpu,
            threads,
            threads_note,
            load_ms,
            cache,
            bytes,
        } => {
            let gpu = is_gpu_label(&label);
            // The CPU's thread count is part of the badge; WebGPU has none.
            let label = match gpu {
                true => label,
                false => format!("{label} · {}", format::count(threads, "thread")),
            };
            let single = threads_note.map(|why| {
                view! { <span class="status-detail threads-note">{why}</span> }
            });
            let title = match &not_gpu {
                Some(why) => format!("{backend}. Not on WebGPU: {why}"),
                None => backend,
            };
            // Said in the page too, not only in the badge's tooltip (a browser
            // without WebGPU, e.g. Firefox here, runs on the CPU and says why).
            let why_cpu = not_gpu.map(|why| {
                view! { <span class="status-detail not-gpu">{format!("Not on WebGPU: {why}")}</span> }
            });
            view! {
                <p class="status-line ready">
                    <span class="ok-dot" aria-hidden="true"></span>
                    <span>"Model ready"</span>
                    <span class="backend-badge" class:gpu=gpu title=title>
                        {label}
                    </span>
                    <span class="status-detail">
                        {format!(
                            "SmolLM2-135M Q4_1 · {} · loaded in {} · {}",
                            format::bytes(bytes),
                            format::duration_ms(load_ms),
                            cache_words(&cache),
                        )}
                    </span>
                    {why_cpu}
                    {single}
                </p>
            }
            .into_any()
        }
        LoadStatus::Failed => view! {
            <p class="status-line failed">"The model is not loaded — see the message below."</p>
        }
        .into_any(),
    };
    view! {
        <section
            class="model-status"
            aria-label="Model status"
            data-status=status_attr
            data-cache=cache_attr
            data-backend=backend_attr
            data-backend-label=label_attr
            data-not-gpu=not_gpu_attr
            data-threads=threads_attr
            data-threads-note=threads_note_attr
        >
            {body}
            <Show when=move || state.compare.get()>
                <p class="status-line lane-b" data-status=move || lane_b_code(&state.load(Lane::B).get())>
                    <span class="lane-dot" aria-hidden="true">"B"</span>
                    {move || lane_b_words(&state.load(Lane::B).get())}
                </p>
            </Show>
            <span class="sr-only" aria-live="polite">{announce}</span>
        </section>
    }
}
