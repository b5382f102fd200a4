//! Per-row LoRA deltas (MPG paper's experts; ALGORITHMS.md "views"): the base
//! matmul is shared by every row, then each row adds its own adapter mix
//! `Σ_j s_j · scale_j · B_j (A_j x)` to its positions. Never merged into the
//! base weights, so rows with different mixes share one weight read.

use crate::model::lora::{LoraAdapter, Module};

/// Adds the deltas of `module` in `layer` to `y` (`[n, out]`) for input `x`
/// (`[n, in]`); `ranges[s]` are the positions of step s and `mixes[s]` its
/// adapter mix (adapter index, weight).
#[allow(clippy::too_many_arguments)]
pub(super) fn apply(
    adapters: &[LoraAdapter],
    mixes: &[Vec<(usize, f32)>],
    ranges: &[std::ops::Range<usize>],
    layer: usize,
    module: Module,
    x: &[f32],
    y: &mut [f32],
    dims: [usize; 2],
) {
    let [out, inp] = dims;
    let mut h = Vec::new();
    for (mix, range) in mixes.iter().zip(ranges) {
        for &(id, weight) in mix {
            let Some(d) = adapters[id].deltas.get(&(layer, module)) else {
                continue;
            };
            let s = weight * d.scale;
            for t in range.clone() {
                let xt = &x[t * inp..(t + 1) * inp];
                h.clear();
                h.extend(
                    d.a.chunks_exact(inp)
                        .map(|row| row.iter().zip(xt).map(|(a, b)| a * b).sum::<f32>() * s),
                );
                let yt = &mut y[t * out..(t + 1) * out];
                for (o, brow) in yt.iter_mut().zip(d.b.chunks_exact(d.rank)) {
                    *o += brow.iter().zip(&h).map(|(b, hv)| b * hv).sum::<f32>();
                }
            }
        }
    }
}
