// RMSNorm: out[i] = x[src(i)] / sqrt(mean(x[src(i)]²) + eps) · g, one
// workgroup per output vector; src(i) = i, or gathered from the call's tables `tab` (the
// read-out positions before the output projection).

struct Params {
    n: u32,          // vector width
    n_rows: u32,
    g_off: u32,      // offset of the gain vector in the norms buffer
    gather: u32,     // 1: source index from tab[gather_off + i]
    gather_off: u32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let i = wg.x;
    var src = i;
    if (p.gather != 0u) {
        src = tab[p.gather_off + i];
    }
    var s = 0.0;
    for (var c = li; c < p.n; c += WG) {
        let v = x[src * p.n + c];
        s += v * v;
    }
    red[li] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    let scale = 1.0 / sqrt(red[0] / f32(p.n) + p.eps);
    for (var c = li; c < p.n; c += WG) {
        out[i * p.n + c] = x[src * p.n + c] * scale * g[p.g_off + c];
    }
}
