//! Which WebGPU adapters the worker passes over by default (issue 13, "the
//! page picks the faster backend"): software renderers — the browser's
//! fallback adapter, SwiftShader, llvmpipe / lavapipe — run this model far
//! slower than the wasm CPU backend (measured in headless Chromium:
//! SwiftShader 0.6 tokens/s, the CPU 24), so the automatic choice takes the
//! CPU and records why; `?backend=webgpu` still uses them.

/// Why the automatic choice skips this adapter, or `None` to use it.
/// `fallback` is the adapter's `isFallbackAdapter` (WebGPU's own word for
/// a software adapter, where the browser reports it).
pub(crate) fn skip_reason(
    vendor: &str,
    architecture: &str,
    description: &str,
    fallback: bool,
    label: &str,
) -> Option<String> {
    let text = format!("{vendor} {architecture} {description}").to_lowercase();
    let software = fallback
        || ["swiftshader", "llvmpipe", "lavapipe", "software"]
            .iter()
            .any(|s| text.contains(s));
    software.then(|| {
        format!(
            "{label} is a software renderer, slower here than the CPU (measured: SwiftShader 0.6 tokens/s, the wasm CPU 24); add ?backend=webgpu to use it anyway"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_adapters_are_skipped_with_a_reason_and_gpus_are_not() {
        let r = skip_reason("google", "swiftshader", "", false, "WebGPU (SwiftShader)").unwrap();
        assert!(
            r.contains("WebGPU (SwiftShader)") && r.contains("?backend=webgpu"),
            "{r}"
        );
        assert!(skip_reason("mesa", "", "llvmpipe (LLVM 15.0.6, 256 bits)", false, "x").is_some());
        assert!(
            skip_reason("", "", "", true, "x").is_some(),
            "the fallback flag alone"
        );
        assert_eq!(
            skip_reason("nvidia", "ampere", "NVIDIA RTX A2000", false, "x"),
            None
        );
        assert_eq!(skip_reason("apple", "metal-3", "", false, "x"), None);
    }
}
