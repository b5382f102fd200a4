// A per-token mix of rows row0..row0+rows of the logits buffer (log-probs)
// into row `out_row` (unnormalised; log_softmax follows): MOD's weighted sum
// (MIX_KIND_LINEAR: c = Σ w_i lp_i), PDD's reweighting (MIX_KIND_PDD: row 0
// is T, row 1 + i is T_i; r_i = δ_i + lp_0 − lp_{1+i}, R = Σ w_i r_i / ‖r‖₂,
// 0 when ‖r‖₂ < 1e-6; c = lp_0 + R / β) or MPG's token-level target
// (MIX_KIND_MPG: row 0 is the reference, row 1 + i expert i with weight w_i;
// c = log Σ w_i π_i where that sum is positive, else lp_0 − MPG_FLOOR).
// backend/mix.rs holds the reference. The MIX_KIND_* and MPG_FLOOR
// constants are prepended by kernels::preprocess from the Rust values.

struct Params {
    vocab: u32,
    rows: u32,
    kind: u32,
    beta: f32,
    row0: u32,
    out_row: u32,
    _pad0: u32,
    _pad1: u32,
    w: array<vec4<f32>, 4>,
    d: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;

fn weight(i: u32) -> f32 {
    return p.w[i / 4u][i % 4u];
}

fn delta(i: u32) -> f32 {
    return p.d[i / 4u][i % 4u];
}

fn lp(i: u32, v: u32) -> f32 {
    return z[(p.row0 + i) * p.vocab + v];
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = gid.x;
    if (v >= p.vocab) {
        return;
    }
    var c = 0.0;
    if (p.kind == MIX_KIND_LINEAR) {
        for (var i = 0u; i < p.rows; i += 1u) {
            c += weight(i) * lp(i, v);
        }
    } else if (p.kind == MIX_KIND_PDD) {
        let full = lp(0u, v);
        var dot = 0.0;
        var norm2 = 0.0;
        for (var i = 0u; i + 1u < p.rows; i += 1u) {
            let r = delta(i) + full - lp(i + 1u, v);
            dot += weight(i) * r;
            norm2 += r * r;
        }
        let norm = sqrt(norm2);
        var reward = 0.0;
        if (norm >= 1e-6) {
            reward = dot / norm;
        }
        c = full + reward / p.beta;
    } else if (p.kind == MIX_KIND_MPG) {
        var m = -3.0e38;
        for (var i = 1u; i < p.rows; i += 1u) {
            m = max(m, lp(i, v));
        }
        var s = 0.0;
        for (var i = 1u; i < p.rows; i += 1u) {
            s += weight(i - 1u) * exp(lp(i, v) - m);
        }
        if (s > 0.0) {
            c = m + log(s);
        } else {
            c = lp(0u, v) - MPG_FLOOR;
        }
    }
    z[p.out_row * p.vocab + v] = c;
}
