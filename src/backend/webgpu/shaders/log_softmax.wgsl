// Log-softmax over the vocabulary, in place, one workgroup per row (rows
// from `row0` on).

struct Params {
    n: u32,
    row0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> z: array<f32>;

const WG: u32 = 256u;
var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let base = (p.row0 + wg.x) * p.n;
    var m = -3.0e38;
    for (var i = li; i < p.n; i += WG) {
        m = max(m, z[base + i]);
    }
    red[li] = m;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        if (li < k) {
            red[li] = max(red[li], red[li + k]);
        }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();
    var s = 0.0;
    for (var i = li; i < p.n; i += WG) {
        s += exp(z[base + i] - mx);
    }
    red[li] = s;
    workgroupBarrier();
    for (var k = WG / 2u; k > 0u; k = k / 2u) {
        if (li < k) {
            red[li] += red[li + k];
        }
        workgroupBarrier();
    }
    let lse = mx + log(red[0]);
    for (var i = li; i < p.n; i += WG) {
        z[base + i] = z[base + i] - lse;
    }
}
