//! Rotary position tables (llama's RoPE): the cos/sin of each frequency at
//! a position, computed in f64 the same way for every backend (the CPU
//! rotates with them; the WebGPU backend uploads them per call), with
//! `libm`'s pow, cos and sin on every target so the tables are the same
//! bits natively and in the browser.

/// Cos/sin of each rotary frequency at one position (computed in f64).
pub fn rope_table(pos: usize, head_dim: usize, base: f32, cos: &mut Vec<f32>, sin: &mut Vec<f32>) {
    cos.clear();
    sin.clear();
    for i in 0..head_dim / 2 {
        let inv_freq = libm::pow(base as f64, -2.0 * i as f64 / head_dim as f64);
        let angle = pos as f64 * inv_freq;
        cos.push(libm::cos(angle) as f32);
        sin.push(libm::sin(angle) as f32);
    }
}
