// Token embeddings: x[t, c] = row tokens[t] of the quantized embedding
// matrix, dequantized (Q8_0 repacked as f32 d + 32 bytes; Q4_1 as in GGUF).

struct Params {
    cols: u32,
    n_tok: u32,
    tok_off: u32,   // word offset of the token ids in `tab` (the call's tables)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn q8_0(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let t = gid.y;
    if (c >= p.cols || t >= p.n_tok) {
        return;
    }
    let row = tab[p.tok_off + t];
    let nb = p.cols / 32u;
    let b = c / 32u;
    let j = c % 32u;
    let base = (row * nb + b) * 9u;
    let q = w[base + 1u + j / 4u];
    let v = f32(bitcast<i32>(q << (24u - 8u * (j % 4u))) >> 24u);
    x[t * p.cols + c] = bitcast<f32>(w[base]) * v;
}

@compute @workgroup_size(64)
fn q4_1(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    let t = gid.y;
    if (c >= p.cols || t >= p.n_tok) {
        return;
    }
    let row = tab[p.tok_off + t];
    let nb = p.cols / 32u;
    let b = c / 32u;
    let j = c % 32u;
    let base = (row * nb + b) * 5u;
    let dm = unpack2x16float(w[base]);
    let byte = (w[base + 1u + (j % 16u) / 4u] >> (8u * (j % 4u))) & 255u;
    let q = select(byte & 15u, byte >> 4u, j >= 16u);
    x[t * p.cols + c] = dm.x * f32(q) + dm.y;
}
