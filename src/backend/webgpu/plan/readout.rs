//! The read-out dispatches: final norm of the positions read, output
//! projection and log-softmax in passes of at most `LOGIT_CHUNK` positions;
//! then dense rows are copied to staging and sparse read-outs reduced on
//! the GPU (token scores, top-k; a mixed call: each pass's mixes, combined
//! by `shaders/combine.wgsl` with the [`MixKind`] the Rust side names).

use super::super::encode::{Op, B};
use super::super::frame::{u, P};
use super::super::kernels::{Kernel, MixKind};
use super::super::layout::{mixed_pass, read_words, Layout, MixedAt, Pass, Read, LOGIT_CHUNK};
use super::super::weights::GpuWeights;
use super::Planner;
use crate::backend::{Mix, MixRead, RowStep, MAX_MIX_ROWS};
use crate::Result;

impl Planner<'_> {
    /// Every read-out pass of the call, then the copy of the sparse words.
    pub(super) fn readout(
        &mut self,
        w: &GpuWeights,
        steps: &[RowStep<'_>],
        mixed: Option<&[MixRead]>,
    ) -> Result<()> {
        let passes: Vec<Pass> = match mixed {
            Some(reads) => vec![mixed_pass(steps, reads)?],
            None => Layout::reads(steps)
                .chunks(LOGIT_CHUNK)
                .map(|c| Pass {
                    positions: c.to_vec(),
                    reads: Vec::new(),
                })
                .collect(),
        };
        let vocab = self.cfg.vocab;
        let row_bytes = (vocab * 4) as u64;
        let (mut dense_at, mut sparse_at) = (0u64, 0u32);
        for Pass {
            positions: chunk,
            reads: mix_at,
        } in &passes
        {
            let n = chunk.len();
            let gather = self.fr.section(chunk.iter().map(|&(t, _)| t));
            self.norm(w.output_norm, n, Some(gather), B::X);
            let out = w.output();
            self.matmul(out, B::Output, B::Xn, B::Logits, n, vocab, false);
            let groups = [n as u32, 1, 1];
            self.dispatch(Kernel::LogSoftmax, vec![B::Logits], &[u(vocab)], groups);
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
                        self.ops.push(Op::Copy {
                            from: B::Logits,
                            at: r0 as u64 * row_bytes,
                            bytes: len as u64 * row_bytes,
                            to: dense_at,
                        });
                        dense_at += len as u64 * row_bytes;
                    }
                    Read::Score { .. } => {
                        let targets =
                            self.fr
                                .section(chunk[r0..r0 + len].iter().map(|r| match r.1 {
                                    Read::Score { target } => target,
                                    _ => unreachable!("a run of scores"),
                                }));
                        let param = [u(vocab), u(len), u(r0), P::U(sparse_at), P::U(targets)];
                        let bufs = vec![B::Meta, B::Logits, B::Sparse];
                        let groups = [len.div_ceil(64) as u32, 1, 1];
                        self.dispatch(Kernel::Gather, bufs, &param, groups);
                        sparse_at += len as u32;
                    }
                    Read::Keep => {}
                    Read::Top { k } => {
                        let param = [
                            u(vocab),
                            P::U(k),
                            u(r0),
                            P::U(sparse_at),
                            P::U(0),
                            P::F(0.0),
                        ];
                        let bufs = vec![B::Meta, B::Logits, B::Sparse];
                        self.dispatch(Kernel::TopK, bufs, &param, [len as u32, 1, 1]);
                        sparse_at += len as u32 * 2 * k;
                    }
                }
                r0 += len;
            }
            for at in mix_at {
                let read = &mixed.expect("mixes come with their reads")[at.read];
                self.mix(read, at, steps.len(), vocab);
            }
        }
        if let Some(reads) = mixed {
            sparse_at = reads
                .iter()
                .map(|r| read_words(r, steps.len()) as u32)
                .sum();
        }
        if sparse_at > 0 {
            self.ops.push(Op::Copy {
                from: B::Sparse,
                at: 0,
                bytes: sparse_at as u64 * 4,
                to: dense_at,
            });
        }
        Ok(())
    }

    /// The dispatches of one mixed read over `rows` rows of the logits
    /// buffer from `at.base`: the combination into row `at.out_row` and its
    /// log-softmax (a `Mix::Row` is ranked where it is), its top `k` with
    /// the tempered mass, and every row's log-prob at those tokens and at
    /// the read's own (`layout::read_words` order).
    fn mix(&mut self, read: &MixRead, at: &MixedAt, rows: usize, vocab: usize) {
        let k = read.k;
        let ranked = match &read.mix {
            Mix::Row { row } => at.base + *row as u32,
            mix => {
                let (kind, weights, delta, beta) = match mix {
                    Mix::Linear { weights } => (MixKind::Linear, weights.as_slice(), &[][..], 1.0),
                    Mix::Pdd {
                        weights,
                        delta,
                        beta,
                    } => (MixKind::Pdd, weights.as_slice(), delta.as_slice(), *beta),
                    Mix::Mpg { alpha } => (MixKind::Mpg, alpha.as_slice(), &[][..], 1.0),
                    Mix::Row { .. } => unreachable!("ranked in place"),
                };
                let mut p = vec![
                    u(vocab),
                    u(rows),
                    P::U(kind as u32),
                    P::F(beta as f32),
                    P::U(at.base),
                    P::U(at.out_row),
                    P::U(0),
                    P::U(0),
                ];
                for v in [weights, delta] {
                    p.extend(
                        (0..MAX_MIX_ROWS).map(|i| P::F(v.get(i).copied().unwrap_or(0.0) as f32)),
                    );
                }
                let groups = [vocab.div_ceil(256) as u32, 1, 1];
                self.dispatch(Kernel::Combine, vec![B::Logits], &p, groups);
                let p = [u(vocab), P::U(at.out_row)];
                self.dispatch(Kernel::LogSoftmax, vec![B::Logits], &p, [1, 1, 1]);
                at.out_row
            }
        };
        let temp = read.temperature.unwrap_or(0.0);
        let param = [
            u(vocab),
            u(k),
            P::U(ranked),
            P::U(at.out_off),
            P::U(0),
            P::F(temp),
        ];
        let bufs = vec![B::Meta, B::Logits, B::Sparse];
        self.dispatch(Kernel::TopK, bufs, &param, [1, 1, 1]);
        // Every row at the top tokens (`targets`: the pairs' word offset in
        // the sparse buffer).
        let tops_at = at.out_off + (2 * k) as u32 + u32::from(read.temperature.is_some());
        let param = [
            u(vocab),
            u(k),
            P::U(at.base),
            P::U(tops_at),
            P::U(at.out_off),
            P::F(0.0),
            u(rows),
        ];
        let bufs = vec![B::Meta, B::Logits, B::Sparse];
        let groups = [(rows * k).div_ceil(64) as u32, 1, 1];
        self.dispatch(Kernel::GatherTop, bufs, &param, groups);
    }
}
