// A per-token mix of rows 0..rows of the logits buffer (log-probs) into row
// `rows` (unnormalised; log_softmax follows): MOD's weighted sum
// (kind 0: c = Σ w_i lp_i) or PDD's reweighting (kind 1: row 0 is T, row
// 1 + i is T_i; r_i = δ_i + lp_0 − lp_{1+i}, R = Σ w_i r_i / ‖r‖₂, 0 when
// ‖r‖₂ < 1e-6; c = lp_0 + R / β). backend/mix.rs holds the reference.

struct Params {
    vocab: u32,
    rows: u32,
    kind: u32,
    beta: f32,
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

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = gid.x;
    if (v >= p.vocab) {
        return;
    }
    var c = 0.0;
    if (p.kind == 0u) {
        for (var i = 0u; i < p.rows; i += 1u) {
            c += weight(i) * z[i * p.vocab + v];
        }
    } else {
        let full = z[v];
        var dot = 0.0;
        var norm2 = 0.0;
        for (var i = 0u; i + 1u < p.rows; i += 1u) {
            let r = delta(i) + full - z[(i + 1u) * p.vocab + v];
            dot += weight(i) * r;
            norm2 += r * r;
        }
        let norm = sqrt(norm2);
        var reward = 0.0;
        if (norm >= 1e-6) {
            reward = dot / norm;
        }
        c = full + reward / p.beta;
    }
    z[p.rows * p.vocab + v] = c;
}
