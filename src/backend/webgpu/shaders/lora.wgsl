// One adapter's LoRA delta for one (layer, module), added to the positions
// whose row mixes that adapter: y[t] += w_t · scale · B (A x[t]). One
// workgroup per (position, weight) task; A is [rank, in], B is [out, rank],
// both f32 in the adapter's buffer. Rank is processed in chunks of 32.

struct Params {
    in_dim: u32,
    out_dim: u32,
    rank: u32,
    a_off: u32,
    b_off: u32,
    ldx: u32,
    ldy: u32,
    y_off: u32,
    tasks_off: u32,  // tab (the call's u32 tables): per task (position, weight bits)
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read> ab: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const WG: u32 = 64u;
const CHUNK: u32 = 32u;
var<workgroup> red: array<f32, 2048>; // CHUNK * WG
var<workgroup> hid: array<f32, 256>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let t = tab[p.tasks_off + 2u * wg.x];
    let s = bitcast<f32>(tab[p.tasks_off + 2u * wg.x + 1u]) * p.scale;
    let xr = t * p.ldx;
    for (var j0 = 0u; j0 < p.rank; j0 += CHUNK) {
        let nj = min(CHUNK, p.rank - j0);
        for (var j = 0u; j < nj; j++) {
            let ar = p.a_off + (j0 + j) * p.in_dim;
            var d = 0.0;
            for (var c = li; c < p.in_dim; c += WG) {
                d += ab[ar + c] * x[xr + c];
            }
            red[j * WG + li] = d;
        }
        workgroupBarrier();
        if (li < nj) {
            var d = 0.0;
            for (var k = 0u; k < WG; k++) {
                d += red[li * WG + k];
            }
            hid[j0 + li] = d * s;
        }
        workgroupBarrier();
    }
    for (var o = li; o < p.out_dim; o += WG) {
        let br = p.b_off + o * p.rank;
        var d = 0.0;
        for (var j = 0u; j < p.rank; j++) {
            d += ab[br + j] * hid[j];
        }
        let at = t * p.ldy + p.y_off + o;
        y[at] = y[at] + d;
    }
}
