//! The `persona` command line (see `persona --help`).

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    persona::cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}
