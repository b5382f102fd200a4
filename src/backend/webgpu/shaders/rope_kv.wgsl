// Rotary embedding on the new positions' queries (in place) and keys, and
// the keys and values stored into each row's paged KV cache of one layer.
// Pairs are adjacent (x[2i], x[2i+1]), llama.cpp's "normal" layout as in the
// GGUF; cos/sin per position come from the host (computed in f64).
// Page layout: [K: page_size × kv_dim][V: page_size × kv_dim].

struct Params {
    n_tok: u32,
    n_head: u32,
    n_kv_head: u32,
    head_dim: u32,
    ld: u32,         // floats per position in qkv (q | k | v)
    info_off: u32,   // tab (the call's u32 tables): per position (step, absolute position)
    steps_off: u32,  // tab (the call's u32 tables): per step, the word offset of its page table
    rope_off: u32,   // tab (the call's u32 tables): per position head_dim floats: cos[half], sin[half]
    page_size: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> kv: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let t = gid.y;
    let half = p.head_dim / 2u;
    let kv_dim = p.n_kv_head * p.head_dim;
    let q_pairs = p.n_head * half;
    let k_pairs = p.n_kv_head * half;
    if (t >= p.n_tok || i >= q_pairs + k_pairs + kv_dim / 2u) {
        return;
    }
    let row = t * p.ld;
    let step = tab[p.info_off + 2u * t];
    let pos = tab[p.info_off + 2u * t + 1u];
    let table = tab[p.steps_off + step];
    let page = tab[table + pos / p.page_size];
    let slot = page * 2u * p.page_size * kv_dim + (pos % p.page_size) * kv_dim;
    if (i < q_pairs + k_pairs) {
        let j = i % half;
        let c = bitcast<f32>(tab[p.rope_off + t * p.head_dim + j]);
        let s = bitcast<f32>(tab[p.rope_off + t * p.head_dim + half + j]);
        // q pairs first, then k pairs (k starts at column n_head * head_dim).
        let at = row + 2u * i;
        let a = qkv[at];
        let b = qkv[at + 1u];
        let ra = a * c - b * s;
        let rb = a * s + b * c;
        if (i < q_pairs) {
            qkv[at] = ra;
            qkv[at + 1u] = rb;
        } else {
            let e = 2u * (i - q_pairs);
            kv[slot + e] = ra;
            kv[slot + e + 1u] = rb;
        }
    } else {
        let e = 2u * (i - q_pairs - k_pairs);
        let src = row + (p.n_head + p.n_kv_head) * p.head_dim + e;
        let dst = slot + p.page_size * kv_dim + e;
        kv[dst] = qkv[src];
        kv[dst + 1u] = qkv[src + 1u];
    }
}
