// SwiGLU: act[t, i] = silu(gate[t, i]) · up[t, i], with gate and up side by
// side in one buffer ([t][gate ffn | up ffn], the fused projection's output).

struct Params {
    ffn: u32,
    n_tok: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let t = gid.y;
    if (i >= p.ffn || t >= p.n_tok) {
        return;
    }
    let g = gu[t * 2u * p.ffn + i];
    let u = gu[t * 2u * p.ffn + p.ffn + i];
    act[t * p.ffn + i] = g / (1.0 + exp(-g)) * u;
}
