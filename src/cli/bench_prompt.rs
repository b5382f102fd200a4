//! The synthetic prompt every speed benchmark prefills (CPU, WebGPU, and
//! the llama.cpp driver's), so their numbers compare.

/// A synthetic prompt of `n` ids (the same ids the llama.cpp script uses).
pub(super) fn prompt_ids(n: usize) -> Vec<u32> {
    std::iter::once(1)
        .chain((0..n.saturating_sub(1)).map(|i| ((17 + 37 * i) % 40000 + 100) as u32))
        .collect()
}
