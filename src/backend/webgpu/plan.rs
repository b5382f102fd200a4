//! The dispatch list of one forward: the call's host tables (tokens, page
//! tables, rope, LoRA tasks) and, per layer, norm, fused QKV matmul, LoRA
//! deltas, rope + KV write, attention, output matmul, FFN; then the
//! read-out pass (final norm, output projection, log-softmax in chunks) and
//! the read-outs reduced on the GPU (sparse gathers, top-k, mixes).

use super::frame::{u, Frame, P};
use super::kernels::Kernel;
use super::kv_cache::PAGE;
use super::layout::{mixed_passes, read_words, Layout, MixedAt, Pass, Read};
use super::lora::{self, GpuAdapter};
use super::weights::{GpuMatrix, QType};
use super::{MatmulKernel, Op, WebGpuBackend, B, LOGIT_CHUNK};
use crate::backend::rope::rope_table;
use crate::backend::{Mix, MixRead, RowStep};
use crate::model::lora::Module;
use crate::Result;

impl WebGpuBackend {
    /// The call's tables, parameters and dispatch list.
    pub(super) fn plan(
        &mut self,
        steps: &[RowStep<'_>],
        total: usize,
        mixed: Option<&[MixRead]>,
    ) -> Result<Vec<Op>> {
        let cfg = &self.config;
        let (h, kv, f, hd) = (cfg.hidden, cfg.kv_dim(), cfg.ffn, cfg.head_dim);
        let qkv_w = h + 2 * kv;
        let fr = &mut self.frame;
        fr.clear();
        let mut ops = Vec::new();
        let mut weight_bytes = 0u64;
        let tiles = |n: usize| n.div_ceil(8) as u64;

        // Tokens, (step, position) per token, page tables, rope tables.
        let tok_off = fr.section(steps.iter().flat_map(|s| s.tokens.iter().copied()));
        let mut info = Vec::with_capacity(2 * total);
        for (si, s) in steps.iter().enumerate() {
            let len = self.rows[s.row.0].as_ref().expect("validated").len;
            for i in 0..s.tokens.len() {
                info.extend([si as u32, (len + i) as u32]);
            }
        }
        let info_off = fr.section(info);
        let steps_off = fr.section(std::iter::repeat_n(0, steps.len()));
        for (si, s) in steps.iter().enumerate() {
            let pages = &self.rows[s.row.0].as_ref().expect("validated").pages;
            let at = fr.section(pages.iter().copied());
            fr.meta[steps_off as usize + si] = at;
        }
        let mut rope = Vec::with_capacity(total * hd);
        let (mut c, mut sn) = (Vec::new(), Vec::new());
        for s in steps {
            let len = self.rows[s.row.0].as_ref().expect("validated").len;
            for i in 0..s.tokens.len() {
                rope_table(len + i, hd, cfg.rope_base, &mut c, &mut sn);
                rope.extend(c.iter().chain(&sn).map(|v| v.to_bits()));
            }
        }
        let rope_off = fr.section(rope);

        // LoRA tasks per adapter in use.
        let mut ranges = Vec::with_capacity(steps.len());
        let mut t0 = 0;
        for s in steps {
            ranges.push(t0..t0 + s.tokens.len());
            t0 += s.tokens.len();
        }
        let mixes: Vec<&[(usize, f32)]> = steps
            .iter()
            .map(|s| self.mixes[s.row.0].as_slice())
            .collect();
        let lora_tasks: Vec<(usize, u32, usize)> = lora::tasks(&mixes, &ranges)
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(a, t)| {
                let n = t.len();
                let off = fr.section(t.into_iter().flat_map(|(p, w)| [p, w.to_bits()]));
                (a, off, n)
            })
            .collect();

        let adapters = &self.adapters;
        let kind = self.matmul;
        let matmul = |fr: &mut Frame,
                      ops: &mut Vec<Op>,
                      wb: &mut u64,
                      m: &GpuMatrix,
                      w: B,
                      x: B,
                      y: B,
                      n_tok: usize,
                      ldy: usize,
                      acc: bool| {
            let param = fr.param(&[
                u(m.rows),
                u(m.cols),
                u(n_tok),
                u(ldy),
                u(0),
                u(usize::from(acc)),
            ]);
            *wb += m.bytes() * tiles(n_tok);
            let (kernel, rows_per_group) = match (kind, m.qtype) {
                (MatmulKernel::Lanes, QType::Q41) => (Kernel::MatmulQ41, 8),
                (MatmulKernel::Lanes, QType::Q80) => (Kernel::MatmulQ80, 8),
                (MatmulKernel::Rows, QType::Q41) => (Kernel::MatmulQ41Rows, 64),
                (MatmulKernel::Rows, QType::Q80) => (Kernel::MatmulQ80Rows, 64),
            };
            ops.push(Op::Dispatch {
                kernel,
                bufs: vec![w, x, y],
                param,
                groups: [
                    m.rows.div_ceil(rows_per_group) as u32,
                    n_tok.div_ceil(8) as u32,
                    1,
                ],
            });
        };
        // LoRA deltas of `module` in layer `l`: x (ld ldx) -> y (ld ldy, column y_off).
        let lora = |fr: &mut Frame,
                    ops: &mut Vec<Op>,
                    wb: &mut u64,
                    l: usize,
                    m: Module,
                    x: B,
                    ldx: usize,
                    y: B,
                    ldy: usize,
                    y_off: usize| {
            let dims = m.shape(cfg);
            for &(a, tasks_off, n) in &lora_tasks {
                let Some(slot) = adapters[a].slots.get(&(l, m)) else {
                    continue;
                };
                let param = fr.param(&[
                    u(dims[1]),
                    u(dims[0]),
                    P::U(slot.rank),
                    P::U(slot.a_off),
                    P::U(slot.b_off),
                    u(ldx),
                    u(ldy),
                    u(y_off),
                    P::U(tasks_off),
                    P::F(slot.scale),
                ]);
                *wb += GpuAdapter::delta_bytes(slot, dims) * n as u64;
                ops.push(Op::Dispatch {
                    kernel: Kernel::Lora,
                    bufs: vec![B::Meta, B::Adapter(a), x, y],
                    param,
                    groups: [n as u32, 1, 1],
                });
            }
        };
        let norm = |fr: &mut Frame,
                    ops: &mut Vec<Op>,
                    g_off: usize,
                    n_rows: usize,
                    gather: Option<u32>,
                    x: B| {
            let param = fr.param(&[
                u(h),
                u(n_rows),
                u(g_off),
                u(usize::from(gather.is_some())),
                P::U(gather.unwrap_or(0)),
                P::F(cfg.rms_eps),
            ]);
            ops.push(Op::Dispatch {
                kernel: Kernel::RmsNorm,
                bufs: vec![B::Meta, B::Norms, x, B::Xn],
                param,
                groups: [n_rows as u32, 1, 1],
            });
        };

        // Embeddings.
        let w = &self.weights;
        let param = fr.param(&[u(h), u(total), P::U(tok_off)]);
        ops.push(Op::Dispatch {
            kernel: match w.embed.qtype {
                QType::Q80 => Kernel::EmbedQ80,
                QType::Q41 => Kernel::EmbedQ41,
            },
            bufs: vec![B::Meta, B::Embed, B::X],
            param,
            groups: [h.div_ceil(64) as u32, total as u32, 1],
        });
        weight_bytes += (total * h / 32) as u64 * w.embed.qtype.block_bytes();

        let wb = &mut weight_bytes;
        let attn_shape = [
            u(total),
            u(cfg.n_head),
            u(cfg.n_kv_head),
            u(hd),
            u(qkv_w),
            P::U(info_off),
            P::U(steps_off),
        ];
        for (l, lw) in w.layers.iter().enumerate() {
            norm(fr, &mut ops, lw.attn_norm, total, None, B::X);
            matmul(
                fr,
                &mut ops,
                wb,
                &lw.qkv,
                B::WQkv(l),
                B::Xn,
                B::Qkv,
                total,
                qkv_w,
                false,
            );
            lora(fr, &mut ops, wb, l, Module::Q, B::Xn, h, B::Qkv, qkv_w, 0);
            lora(fr, &mut ops, wb, l, Module::K, B::Xn, h, B::Qkv, qkv_w, h);
            lora(
                fr,
                &mut ops,
                wb,
                l,
                Module::V,
                B::Xn,
                h,
                B::Qkv,
                qkv_w,
                h + kv,
            );
            let mut p = attn_shape.to_vec();
            p.extend([P::U(rope_off), u(PAGE)]);
            let param = fr.param(&p);
            let pairs = (cfg.n_head + cfg.n_kv_head) * hd / 2 + kv / 2;
            ops.push(Op::Dispatch {
                kernel: Kernel::RopeKv,
                bufs: vec![B::Meta, B::Qkv, B::Kv(l)],
                param,
                groups: [pairs.div_ceil(64) as u32, total as u32, 1],
            });
            let mut p = attn_shape.to_vec();
            p.extend([u(PAGE), P::F(1.0 / (hd as f32).sqrt())]);
            let param = fr.param(&p);
            ops.push(Op::Dispatch {
                kernel: Kernel::Attention,
                bufs: vec![B::Meta, B::Qkv, B::Kv(l), B::Att],
                param,
                groups: [cfg.n_head as u32, total as u32, 1],
            });
            matmul(
                fr,
                &mut ops,
                wb,
                &lw.wo,
                B::Wo(l),
                B::Att,
                B::X,
                total,
                h,
                true,
            );
            lora(fr, &mut ops, wb, l, Module::O, B::Att, h, B::X, h, 0);

            norm(fr, &mut ops, lw.ffn_norm, total, None, B::X);
            matmul(
                fr,
                &mut ops,
                wb,
                &lw.gate_up,
                B::WGu(l),
                B::Xn,
                B::Gu,
                total,
                2 * f,
                false,
            );
            lora(fr, &mut ops, wb, l, Module::Gate, B::Xn, h, B::Gu, 2 * f, 0);
            lora(fr, &mut ops, wb, l, Module::Up, B::Xn, h, B::Gu, 2 * f, f);
            let param = fr.param(&[u(f), u(total)]);
            ops.push(Op::Dispatch {
                kernel: Kernel::Swiglu,
                bufs: vec![B::Gu, B::Act],
                param,
                groups: [f.div_ceil(256) as u32, total as u32, 1],
            });
            matmul(
                fr,
                &mut ops,
                wb,
                &lw.down,
                B::WDown(l),
                B::Act,
                B::X,
                total,
                h,
                true,
            );
            lora(fr, &mut ops, wb, l, Module::Down, B::Act, f, B::X, h, 0);
        }

        // Read-out: final norm of the picked positions, output projection,
        // log-softmax in passes of at most LOGIT_CHUNK positions; then dense
        // rows are copied to staging and sparse read-outs reduced on the GPU
        // (a mixed call: each pass's mixes).
        let passes: Vec<Pass> = match mixed {
            Some(reads) => mixed_passes(steps, reads)?,
            None => Layout::reads(steps)
                .chunks(LOGIT_CHUNK)
                .map(|c| Pass {
                    positions: c.to_vec(),
                    reads: Vec::new(),
                })
                .collect(),
        };
        let out = w.output();
        let vocab = cfg.vocab;
        let row_bytes = (vocab * 4) as u64;
        let (mut dense_at, mut sparse_at) = (0u64, 0u32);
        for Pass {
            positions: chunk,
            reads: mix_at,
        } in &passes
        {
            let n = chunk.len();
            let gather = fr.section(chunk.iter().map(|&(t, _)| t));
            norm(fr, &mut ops, w.output_norm, n, Some(gather), B::X);
            matmul(
                fr,
                &mut ops,
                wb,
                out,
                B::Output,
                B::Xn,
                B::Logits,
                n,
                vocab,
                false,
            );
            let param = fr.param(&[u(vocab)]);
            ops.push(Op::Dispatch {
                kernel: Kernel::LogSoftmax,
                bufs: vec![B::Logits],
                param,
                groups: [n as u32, 1, 1],
            });
            // Runs of one kind (and one k) within the chunk.
            let mut r0 = 0;
            while r0 < n {
                let kind = chunk[r0].1;
                let same = |r: &(u32, Read)| match (r.1, kind) {
                    (Read::Dense, Read::Dense) | (Read::Score { .. }, Read::Score { .. }) => true,
                    (Read::Top { k: a }, Read::Top { k: b }) => a == b,
                    (Read::Keep, Read::Keep) => true,
                    _ => false,
                };
                let len = chunk[r0..].iter().take_while(|r| same(r)).count();
                match kind {
                    Read::Dense => {
                        ops.push(Op::Copy {
                            from: B::Logits,
                            at: r0 as u64 * row_bytes,
                            bytes: len as u64 * row_bytes,
                            to: dense_at,
                        });
                        dense_at += len as u64 * row_bytes;
                    }
                    Read::Score { .. } => {
                        let targets = fr.section(chunk[r0..r0 + len].iter().map(|r| match r.1 {
                            Read::Score { target } => target,
                            _ => unreachable!("a run of scores"),
                        }));
                        let param =
                            fr.param(&[u(vocab), u(len), u(r0), P::U(sparse_at), P::U(targets)]);
                        ops.push(Op::Dispatch {
                            kernel: Kernel::Gather,
                            bufs: vec![B::Meta, B::Logits, B::Sparse],
                            param,
                            groups: [len.div_ceil(64) as u32, 1, 1],
                        });
                        sparse_at += len as u32;
                    }
                    Read::Keep => {}
                    Read::Top { k } => {
                        let param = fr.param(&[
                            u(vocab),
                            P::U(k),
                            u(r0),
                            P::U(sparse_at),
                            P::U(0),
                            P::F(0.0),
                        ]);
                        ops.push(Op::Dispatch {
                            kernel: Kernel::TopK,
                            bufs: vec![B::Meta, B::Logits, B::Sparse],
                            param,
                            groups: [len as u32, 1, 1],
                        });
                        sparse_at += len as u32 * 2 * k;
                    }
                }
                r0 += len;
            }
            for at in mix_at {
                let read = &mixed.expect("mixes come with their reads")[at.read];
                mix_ops(fr, &mut ops, read, at, steps.len(), vocab);
            }
        }
        if let Some(reads) = mixed {
            sparse_at = reads
                .iter()
                .map(|r| read_words(r, steps.len()) as u32)
                .sum();
        }
        if sparse_at > 0 {
            ops.push(Op::Copy {
                from: B::Sparse,
                at: 0,
                bytes: sparse_at as u64 * 4,
                to: dense_at,
            });
        }
        self.gpu_counters.weight_bytes_read += weight_bytes;
        Ok(ops)
    }
}

/// The dispatches of one mixed read over `rows` rows of the logits buffer
/// from `at.base`: the combination into row `at.out_row` and its
/// log-softmax (a `Mix::Row` is ranked where it is), its top `k` with the
/// tempered mass, and every row's log-prob at those tokens and at the
/// read's own (`layout::read_words` order).
fn mix_ops(
    fr: &mut Frame,
    ops: &mut Vec<Op>,
    read: &MixRead,
    at: &MixedAt,
    rows: usize,
    vocab: usize,
) {
    let k = read.k;
    let ranked = match &read.mix {
        Mix::Row { row } => at.base + *row as u32,
        mix => {
            let (kind, weights, delta, beta) = match mix {
                Mix::Linear { weights } => (0, weights.as_slice(), &[][..], 1.0),
                Mix::Pdd {
                    weights,
                    delta,
                    beta,
                } => (1, weights.as_slice(), delta.as_slice(), *beta),
                Mix::Mpg { alpha } => (2, alpha.as_slice(), &[][..], 1.0),
                Mix::Row { .. } => unreachable!("ranked in place"),
            };
            let mut p = vec![
                u(vocab),
                u(rows),
                u(kind),
                P::F(beta as f32),
                P::U(at.base),
                P::U(at.out_row),
                P::U(0),
                P::U(0),
            ];
            for v in [weights, delta] {
                p.extend(
                    (0..crate::backend::MAX_MIX_ROWS)
                        .map(|i| P::F(v.get(i).copied().unwrap_or(0.0) as f32)),
                );
            }
            let param = fr.param(&p);
            ops.push(Op::Dispatch {
                kernel: Kernel::Combine,
                bufs: vec![B::Logits],
                param,
                groups: [vocab.div_ceil(256) as u32, 1, 1],
            });
            let param = fr.param(&[u(vocab), P::U(at.out_row)]);
            ops.push(Op::Dispatch {
                kernel: Kernel::LogSoftmax,
                bufs: vec![B::Logits],
                param,
                groups: [1, 1, 1],
            });
            at.out_row
        }
    };
    let temp = read.temperature.unwrap_or(0.0);
    let param = fr.param(&[
        u(vocab),
        u(k),
        P::U(ranked),
        P::U(at.out_off),
        P::U(0),
        P::F(temp),
    ]);
    ops.push(Op::Dispatch {
        kernel: Kernel::TopK,
        bufs: vec![B::Meta, B::Logits, B::Sparse],
        param,
        groups: [1, 1, 1],
    });
    let named = (!read.at.is_empty()).then(|| fr.section(read.at.iter().copied()));
    // Every row at n tokens: the top pairs (`targets`: their word offset
    // in the sparse buffer) or tokens named in meta (`targets` there).
    let mut every_row_at = |kernel: Kernel, n: usize, out_off: u32, targets: u32| {
        let param = fr.param(&[
            u(vocab),
            u(n),
            P::U(at.base),
            P::U(out_off),
            P::U(targets),
            P::F(0.0),
            u(rows),
        ]);
        ops.push(Op::Dispatch {
            kernel,
            bufs: vec![B::Meta, B::Logits, B::Sparse],
            param,
            groups: [(rows * n).div_ceil(64) as u32, 1, 1],
        });
    };
    let tops_at = at.out_off + (2 * k) as u32 + u32::from(read.temperature.is_some());
    every_row_at(Kernel::GatherTop, k, tops_at, at.out_off);
    if let Some(named) = named {
        every_row_at(
            Kernel::GatherAt,
            read.at.len(),
            tops_at + (rows * k) as u32,
            named,
        );
    }
}
