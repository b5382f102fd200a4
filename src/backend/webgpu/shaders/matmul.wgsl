// y[t, y_off + r] (=|+=) Σ_c W[r, c] · x[t, c] for a quantized W kept in its
// GGUF block form and f32 activations. A workgroup of 256 invocations owns 8
// output rows (32 lanes each, striding over 4-element slices of the blocks)
// and up to 8 positions; the lanes' partial sums meet in workgroup memory.
// Entry points: `q4_1` (GGUF blocks as is: f16 d, f16 m, 16 nibble bytes =
// 5 words) and `q8_0` (repacked at upload to f32 d + 32 bytes = 9 words);
// `q4_1_rows` / `q8_0_rows` (below) give each invocation a whole row instead.

struct Params {
    rows: u32,        // output features
    cols: u32,        // input features, a multiple of 32
    n_tok: u32,       // positions in x
    ldy: u32,         // floats between positions in y
    y_off: u32,       // first output column in y
    accumulate: u32,  // 1: y += W x (residual), 0: y = W x
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const LANES: u32 = 32u;
const TILE: u32 = 8u;
const WG: u32 = 256u;

var<workgroup> part: array<f32, 2048>; // TILE * WG

fn finish(li: u32, row: u32, t0: u32, nt: u32, acc: ptr<function, array<f32, 8>>) {
    for (var t = 0u; t < TILE; t++) {
        part[t * WG + li] = (*acc)[t];
    }
    workgroupBarrier();
    let lane = li % LANES;
    if (row < p.rows && lane < nt) {
        let first = lane * WG + (li - lane);
        var s = 0.0;
        for (var l = 0u; l < LANES; l++) {
            s += part[first + l];
        }
        let idx = (t0 + lane) * p.ldy + p.y_off + row;
        if (p.accumulate != 0u) {
            y[idx] = y[idx] + s;
        } else {
            y[idx] = s;
        }
    }
}

@compute @workgroup_size(256)
fn q4_1(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.x * (WG / LANES) + li / LANES;
    let t0 = wg.y * TILE;
    let nt = min(TILE, p.n_tok - t0);
    var acc: array<f32, 8>;
    if (row < p.rows) {
        let nb = p.cols / 32u;
        let cv = p.cols / 4u;
        let ones = vec4<f32>(1.0);
        for (var task = li % LANES; task < nb * 4u; task += LANES) {
            let b = task / 4u;
            let k = task % 4u;
            let base = (row * nb + b) * 5u;
            let dm = unpack2x16float(w[base]);
            let q = w[base + 1u + k];
            // Byte j of a block holds element j (low nibble) and j + 16 (high).
            let lo = vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u));
            let hi = vec4<f32>(f32((q >> 4u) & 15u), f32((q >> 12u) & 15u), f32((q >> 20u) & 15u), f32(q >> 28u));
            let xi = b * 8u + k;
            for (var t = 0u; t < nt; t++) {
                let xr = (t0 + t) * cv + xi;
                let a = x[xr];
                let c = x[xr + 4u];
                acc[t] += dm.x * (dot(lo, a) + dot(hi, c)) + dm.y * (dot(a, ones) + dot(c, ones));
            }
        }
    }
    finish(li, row, t0, nt, &acc);
}

fn sext(q: u32, shift: u32) -> f32 {
    return f32(bitcast<i32>(q << shift) >> 24u);
}

@compute @workgroup_size(256)
fn q8_0(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.x * (WG / LANES) + li / LANES;
    let t0 = wg.y * TILE;
    let nt = min(TILE, p.n_tok - t0);
    var acc: array<f32, 8>;
    if (row < p.rows) {
        let nb = p.cols / 32u;
        let cv = p.cols / 4u;
        for (var task = li % LANES; task < nb * 8u; task += LANES) {
            let b = task / 8u;
            let k = task % 8u;
            let base = (row * nb + b) * 9u;
            let d = bitcast<f32>(w[base]);
            let q = w[base + 1u + k];
            let v = vec4<f32>(sext(q, 24u), sext(q, 16u), sext(q, 8u), sext(q, 0u));
            let xi = b * 8u + k;
            for (var t = 0u; t < nt; t++) {
                acc[t] += d * dot(v, x[(t0 + t) * cv + xi]);
            }
        }
    }
    finish(li, row, t0, nt, &acc);
}

// Row-per-invocation variants for software adapters (lavapipe, SwiftShader):
// no workgroup memory, no barrier; each invocation walks its row's blocks
// while every invocation reads the same activations.

@compute @workgroup_size(64)
fn q4_1_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    let t0 = gid.y * TILE;
    if (row >= p.rows) {
        return;
    }
    let nt = min(TILE, p.n_tok - t0);
    let nb = p.cols / 32u;
    let cv = p.cols / 4u;
    var acc: array<f32, 8>;
    for (var b = 0u; b < nb; b++) {
        let base = (row * nb + b) * 5u;
        let dm = unpack2x16float(w[base]);
        var lo: array<vec4<f32>, 4>;
        var hi: array<vec4<f32>, 4>;
        for (var k = 0u; k < 4u; k++) {
            let q = w[base + 1u + k];
            lo[k] = vec4<f32>(f32(q & 15u), f32((q >> 8u) & 15u), f32((q >> 16u) & 15u), f32((q >> 24u) & 15u));
            hi[k] = vec4<f32>(f32((q >> 4u) & 15u), f32((q >> 12u) & 15u), f32((q >> 20u) & 15u), f32(q >> 28u));
        }
        for (var t = 0u; t < TILE; t++) {
            if (t < nt) {
                let xr = (t0 + t) * cv + b * 8u;
                var s = vec4<f32>(0.0);
                var sx = vec4<f32>(0.0);
                for (var k = 0u; k < 4u; k++) {
                    let a = x[xr + k];
                    let c = x[xr + 4u + k];
                    s += lo[k] * a + hi[k] * c;
                    sx += a + c;
                }
                acc[t] += dm.x * (s.x + s.y + s.z + s.w) + dm.y * (sx.x + sx.y + sx.z + sx.w);
            }
        }
    }
    store_rows(row, t0, nt, &acc);
}

@compute @workgroup_size(64)
fn q8_0_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    let t0 = gid.y * TILE;
    if (row >= p.rows) {
        return;
    }
    let nt = min(TILE, p.n_tok - t0);
    let nb = p.cols / 32u;
    let cv = p.cols / 4u;
    var acc: array<f32, 8>;
    for (var b = 0u; b < nb; b++) {
        let base = (row * nb + b) * 9u;
        let d = bitcast<f32>(w[base]);
        var v: array<vec4<f32>, 8>;
        for (var k = 0u; k < 8u; k++) {
            let q = w[base + 1u + k];
            v[k] = vec4<f32>(sext(q, 24u), sext(q, 16u), sext(q, 8u), sext(q, 0u));
        }
        for (var t = 0u; t < TILE; t++) {
            if (t < nt) {
                let xr = (t0 + t) * cv + b * 8u;
                var s = vec4<f32>(0.0);
                for (var k = 0u; k < 8u; k++) {
                    s += v[k] * x[xr + k];
                }
                acc[t] += d * (s.x + s.y + s.z + s.w);
            }
        }
    }
    store_rows(row, t0, nt, &acc);
}

fn store_rows(row: u32, t0: u32, nt: u32, acc: ptr<function, array<f32, 8>>) {
    for (var t = 0u; t < TILE; t++) {
        if (t < nt) {
            let idx = (t0 + t) * p.ldy + p.y_off + row;
            if (p.accumulate != 0u) {
                y[idx] = y[idx] + (*acc)[t];
            } else {
                y[idx] = (*acc)[t];
            }
        }
    }
}
