// Causal grouped-query attention of each new position against its own row's
// paged KV cache (positions 0..=pos): one workgroup of 64 per (query head,
// position), one key per invocation per page-sized chunk, online softmax
// across chunks. Query head h reads KV head h / (n_head / n_kv_head).
// Requires head_dim == 64 == page_size.

struct Params {
    n_tok: u32,
    n_head: u32,
    n_kv_head: u32,
    head_dim: u32,
    ld: u32,          // floats per position in qkv
    info_off: u32,
    steps_off: u32,
    page_size: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;
@group(0) @binding(3) var<storage, read> kv: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> q: array<vec4<f32>, 16>;
var<workgroup> sc: array<f32, 64>;
var<workgroup> span_w: u32;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let h = wg.x;
    let t = wg.y;
    let hd = p.head_dim;
    let kv_dim = p.n_kv_head * hd;
    let g = h / (p.n_head / p.n_kv_head);
    let step = tab[p.info_off + 2u * t];
    let pos = tab[p.info_off + 2u * t + 1u];
    let table = tab[p.steps_off + step];
    if (li < hd / 4u) {
        let at = t * p.ld + h * hd + 4u * li;
        q[li] = vec4<f32>(qkv[at], qkv[at + 1u], qkv[at + 2u], qkv[at + 3u]);
    }
    if (li == 0u) {
        span_w = pos + 1u;
    }
    let span = workgroupUniformLoad(&span_w);
    var m = -3.0e38;
    var l = 0.0;
    var acc = 0.0;
    let page_floats = 2u * p.page_size * kv_dim;
    for (var c0 = 0u; c0 < span; c0 += WG) {
        let page = tab[table + c0 / p.page_size];
        let kbase = (page * page_floats + g * hd) / 4u;  // vec4 index of key 0's head g
        let j = c0 + li;
        var s = -3.0e38;
        if (j < span) {
            let kr = kbase + li * kv_dim / 4u;
            var d = 0.0;
            for (var e = 0u; e < hd / 4u; e++) {
                d += dot(q[e], kv[kr + e]);
            }
            s = d * p.scale;
        }
        sc[li] = s;
        workgroupBarrier();
        var cmax = m;
        for (var k = 0u; k < WG; k++) {
            cmax = max(cmax, sc[k]);
        }
        workgroupBarrier();
        var e = 0.0;
        if (j < span) {
            e = exp(s - cmax);
        }
        sc[li] = e;
        workgroupBarrier();
        let corr = exp(m - cmax);
        var psum = 0.0;
        var a = 0.0;
        let n = min(WG, span - c0);
        let vbase = page * page_floats + p.page_size * kv_dim + g * hd + li;
        for (var k = 0u; k < n; k++) {
            let pk = sc[k];
            psum += pk;
            a += pk * vec_at(vbase + k * kv_dim);
        }
        l = l * corr + psum;
        acc = acc * corr + a;
        m = cmax;
        workgroupBarrier();
    }
    out[t * p.n_head * hd + h * hd + li] = acc / l;
}

fn vec_at(i: u32) -> f32 {
    let v = kv[i / 4u];
    return v[i % 4u];
}
