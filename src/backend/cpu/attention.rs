//! Causal grouped-query attention of new positions against their own row's
//! cache: query head h reads KV head h / (n_head / n_kv_head).

use super::attention_dot::{Dot, KvView, PlainDot};
use super::threads::{SharedOut, Threads};

/// Shape of one attention call.
pub(super) struct AttentionShape {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
}

/// `q`: `[n_new, n_head * head_dim]` for positions `first_pos..`; `keys` and
/// `values`: the row's cache `[len, n_kv_head * head_dim]`, already holding
/// the new positions. Writes `[n_new, n_head * head_dim]` into `out`.
///
/// The query heads that share a KV head are taken together, so each key
/// and value is read once for all of them; a head's output is
/// `(Σ_j e^(s_j − max) · v_j) / Σ_j e^(s_j − max)`, divided once at the end.
/// On x86-64 with AVX2, and in wasm with simd128, the same operations run
/// vectorized (`attention_dot`). Each (new position, KV head) pair is one
/// task for `threads` when there is enough to share, and each (position,
/// query head) when that gives the threads too few (decoding); heads are
/// computed alike either way, so the output does not depend on the thread
/// count.
pub(super) fn attend(
    shape: &AttentionShape,
    q: &[f32],
    first_pos: usize,
    keys: &[f32],
    values: &[f32],
    out: &mut [f32],
    threads: &Threads,
) {
    let q_dim = shape.n_head * shape.head_dim;
    let n_new = q.len() / q_dim;
    assert!(out.len() >= n_new * q_dim);
    let group = shape.n_head / shape.n_kv_head;
    // A task: one position's query heads of one KV head, or, when that
    // gives the threads too few tasks to share (decoding), one query head.
    let heads_per_task = if n_new * shape.n_kv_head >= 2 * threads.count() {
        group
    } else {
        1
    };
    let parts = group / heads_per_task;
    let tasks = n_new * shape.n_kv_head * parts;
    // Keys read over all tasks: below this a fork-join costs more than it saves.
    let reads = n_new * (first_pos + n_new) * shape.n_kv_head;
    let shared = SharedOut(out.as_mut_ptr());
    let task = |t: usize| {
        let (i, g, part) = (
            t / (shape.n_kv_head * parts),
            t / parts % shape.n_kv_head,
            t % parts,
        );
        let first = g * group + part * heads_per_task;
        let heads = first * shape.head_dim..(first + heads_per_task) * shape.head_dim;
        // SAFETY: task t alone writes these heads of position i, in bounds
        // (asserted above).
        let og = unsafe { shared.slice(i * q_dim + heads.start, heads.len()) };
        let qg = &q[i * q_dim + heads.start..i * q_dim + heads.end];
        SCORES.with_borrow_mut(|scores| {
            attend_one(shape, qg, g, first_pos + i + 1, keys, values, scores, og)
        });
    };
    if threads.count() > 1 && tasks > 1 && reads >= PARALLEL_READS {
        threads.each(tasks, task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Keys read per attention call from which its tasks are shared out.
const PARALLEL_READS: usize = 512;

thread_local! {
    /// A thread's score buffer, reused across calls.
    static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One position's query heads `qg` (some or all of KV head `g`'s) against
/// keys `0..span`.
#[allow(clippy::too_many_arguments)]
fn attend_one(
    shape: &AttentionShape,
    qg: &[f32],
    g: usize,
    span: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    og: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { attend_one_avx2(shape, qg, g, span, keys, values, scores, og) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return attend_with::<super::attention_dot::Simd128Dot>(
        shape, qg, g, span, keys, values, scores, og,
    );
    #[allow(unreachable_code)]
    attend_with::<PlainDot>(shape, qg, g, span, keys, values, scores, og)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_one_avx2(
    shape: &AttentionShape,
    qg: &[f32],
    g: usize,
    span: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    og: &mut [f32],
) {
    attend_with::<super::attention_dot::Avx2Dot>(shape, qg, g, span, keys, values, scores, og)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn attend_with<D: Dot>(
    shape: &AttentionShape,
    qg: &[f32],
    g: usize,
    span: usize,
    keys: &[f32],
    values: &[f32],
    scores: &mut Vec<f32>,
    og: &mut [f32],
) {
    let hd = shape.head_dim;
    let kv_dim = shape.n_kv_head * hd;
    let group = qg.len() / hd;
    let scale = 1.0 / (hd as f32).sqrt();
    // scores[h · span + j]: head h of the group against key j; then each
    // head's total.
    scores.clear();
    scores.resize(group * span + group, 0.0);
    let (scores, totals) = scores.split_at_mut(group * span);
    let kv = KvView {
        data: keys,
        stride: kv_dim,
        offset: g * hd,
        span,
    };
    for (qh, sh) in qg.chunks_exact(hd).zip(scores.chunks_exact_mut(span)) {
        D::scores(qh, &kv, scale, sh);
    }
    og.fill(0.0);
    for (h, sh) in scores.chunks_exact_mut(span).enumerate() {
        let max = sh.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for s in sh.iter_mut() {
            *s = crate::dist::exp_f32(*s - max);
        }
        totals[h] = sh.iter().sum();
    }
    let vs = KvView {
        data: values,
        stride: kv_dim,
        offset: g * hd,
        span,
    };
    for (oh, sh) in og.chunks_exact_mut(hd).zip(scores.chunks_exact(span)) {
        D::weighted_sum(sh, &vs, oh);
    }
    for (oh, &total) in og.chunks_exact_mut(hd).zip(&*totals) {
        oh.iter_mut().for_each(|o| *o /= total);
    }
}
