//! Element-wise pieces of the llama block on the CPU: RMSNorm, rotary
//! embedding (llama.cpp "normal" layout: adjacent pairs; the tables are
//! `backend::rope`'s), SiLU gating.

/// `out = x / sqrt(mean(x²) + eps) * w`, per vector of `w.len()` values.
pub(crate) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut Vec<f32>) {
    out.clear();
    out.reserve(x.len());
    for v in x.chunks_exact(w.len()) {
        let ms = v.iter().map(|&a| (a as f64) * (a as f64)).sum::<f64>() / v.len() as f64;
        let scale = (1.0 / (ms + eps as f64).sqrt()) as f32;
        out.extend(v.iter().zip(w).map(|(&a, &g)| a * scale * g));
    }
}

/// Rotates each head of `x` (one token) pairwise: (x[2i], x[2i+1]).
pub(crate) fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..head_dim / 2 {
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * cos[i] - b * sin[i];
            head[2 * i + 1] = a * sin[i] + b * cos[i];
        }
    }
}

avx2_dispatch! {
    /// `gate = silu(gate) * up`, in place.
    pub(crate) fn swiglu(gate: &mut [f32], up: &[f32]) {
        for (g, &u) in gate.iter_mut().zip(up) {
            *g = *g / (1.0 + crate::dist::exp_f32(-*g)) * u;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::rope::rope_table;

    #[test]
    fn rope_at_zero_is_identity_and_preserves_norm() {
        let (mut c, mut s) = (vec![], vec![]);
        rope_table(0, 4, 10000.0, &mut c, &mut s);
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        rope(&mut x, 4, &c, &s);
        assert_eq!(x, vec![1.0, 2.0, 3.0, 4.0]);
        rope_table(17, 4, 10000.0, &mut c, &mut s);
        rope(&mut x, 4, &c, &s);
        let n: f32 = x.iter().map(|v| v * v).sum();
        assert!((n - 30.0).abs() < 1e-4);
    }

    #[test]
    fn rms_norm_unit_weight_gives_unit_rms() {
        let mut out = vec![];
        rms_norm(&[3.0, -4.0], &[1.0, 1.0], 0.0, &mut out);
        let ms: f32 = out.iter().map(|v| v * v).sum::<f32>() / 2.0;
        assert!((ms - 1.0).abs() < 1e-6);
    }
}
