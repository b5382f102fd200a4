//! The model worker binary (wasm only): Trunk builds it as a Web Worker.

#[cfg(target_arch = "wasm32")]
fn main() {
    persona::start_worker();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
