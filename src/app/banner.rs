//! The error banner: what went wrong in words, what to do next, and a way to
//! dismiss it. The page stays usable underneath; the words for each error
//! kind are `crate::page_data::banner::describe`.

use leptos::prelude::*;

use super::state::AppState;

#[component]
pub(crate) fn ErrorBanner(
    /// Shown as a "Try again" button for errors that a retry can fix.
    on_retry: Callback<()>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.banner.get().map(|b| {
            let retry = b.offers_retry();
            view! {
                <div class="banner" role="alert" data-kind=b.kind.as_str()>
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
