// Sparse read-outs over log-softmaxed rows of the logits buffer, so that a
// decoding step reads back a few words instead of a vocabulary:
// `gather` takes one given token's log-prob per row (teacher-forced
// scoring); `top_k` the k best (token, log-prob) pairs of a row, best
// first, ties toward the lower id (the CPU's `argmax` and `top_k` order);
// `gather_top` every mixed row's log-prob at a mix's best tokens.
// Output words are u32: ids as is, log-probs by their bits.

struct Params {
    vocab: u32,
    // gather: rows; top_k, gather_top: k
    n: u32,
    // first row of the logits buffer
    row0: u32,
    // word offset in `out`
    out_off: u32,
    // gather: tab offset of the target tokens; gather_top: word
    // offset in `out` of the (token, log-prob) pairs
    targets: u32,
    // top_k: > 0 also writes Σ exp((z − z_best)/temp) after the pairs
    temp: f32,
    // gather_top: rows from row0
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> tab: array<u32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if (r >= p.n) {
        return;
    }
    out[p.out_off + r] = bitcast<u32>(z[(p.row0 + r) * p.vocab + tab[p.targets + r]]);
}

// After `top_k` of a mix (pairs at words targets..targets + 2k): row r's
// log-prob of the j-th best token, for rows row0..row0 + rows, at
// out_off + r * k + j.
@compute @workgroup_size(64)
fn gather_top(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = p.n;
    let idx = gid.x;
    if (idx >= p.rows * k) {
        return;
    }
    let r = idx / k;
    let j = idx % k;
    out[p.out_off + idx] = bitcast<u32>(z[(p.row0 + r) * p.vocab + out[p.targets + 2u * j]]);
}

const WG: u32 = 256u;
var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;

// Whether (v, i) ranks before (bv, bi).
fn before(v: f32, i: u32, bv: f32, bi: u32) -> bool {
    return v > bv || (v == bv && i < bi);
}

// One workgroup per row; round r finds the best entry ranked after round
// r - 1's pick. With temp > 0 (one row), the tempered mass
// Σ exp((z − z_best)/temp) follows the k pairs.
@compute @workgroup_size(256)
fn top_k(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let k = p.n;
    let base = (p.row0 + wg.x) * p.vocab;
    var pv = 0.0;
    var pi = 0u;
    var first = 0.0;
    for (var r = 0u; r < k; r += 1u) {
        var bv = -3.4e38;
        var bi = 0xffffffffu;
        for (var i = li; i < p.vocab; i += WG) {
            let v = z[base + i];
            let after_prev = r == 0u || before(pv, pi, v, i);
            if (after_prev && before(v, i, bv, bi)) {
                bv = v;
                bi = i;
            }
        }
        best_v[li] = bv;
        best_i[li] = bi;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s = s / 2u) {
            if (li < s && before(best_v[li + s], best_i[li + s], best_v[li], best_i[li])) {
                best_v[li] = best_v[li + s];
                best_i[li] = best_i[li + s];
            }
            workgroupBarrier();
        }
        pv = best_v[0];
        pi = best_i[0];
        if (r == 0u) {
            first = pv;
        }
        if (li == 0u) {
            let o = p.out_off + (wg.x * k + r) * 2u;
            out[o] = pi;
            out[o + 1u] = bitcast<u32>(pv);
        }
        workgroupBarrier();
    }
    if (p.temp > 0.0) {
        var sum = 0.0;
        for (var i = li; i < p.vocab; i += WG) {
            sum += exp((z[base + i] - first) / p.temp);
        }
        best_v[li] = sum;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s = s / 2u) {
            if (li < s) {
                best_v[li] += best_v[li + s];
            }
            workgroupBarrier();
        }
        if (li == 0u) {
            out[p.out_off + 2u * k] = bitcast<u32>(best_v[0]);
        }
    }
}
