//! The model worker binary (wasm only): Trunk builds it as a Web Worker.

#[cfg(target_arch = "wasm32")]
fn main() {
    persona::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
