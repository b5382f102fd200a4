//! The playground page binary (wasm only): mounts the Leptos app.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(persona::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
