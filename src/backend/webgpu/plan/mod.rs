//! The dispatch list of one forward, built in phases: the call's host
//! tables (`tables.rs`: tokens, page tables, rope, LoRA tasks), the
//! embedding and, per layer, the attention and MLP blocks (`layers.rs`),
//! then the read-out passes and the read-outs reduced on the GPU
//! (`readout.rs`: final norm, output projection, log-softmax in chunks,
//! sparse gathers, top-k, mixes). This file holds the [`Planner`] the
//! phases share: the frame, the ops so far, and the encoders every phase
//! uses (quantized matmul, LoRA deltas, RMSNorm).

mod layers;
mod readout;
mod tables;

use super::encode::{Op, B};
use super::frame::{u, Frame, P};
use super::kernels::{Kernel, MatmulKernel};
use super::lora::GpuAdapter;
use super::weights::{GpuMatrix, QType};
use super::WebGpuBackend;
use crate::backend::{MixRead, RowStep};
use crate::model::lora::Module;
use crate::model::LlamaConfig;
use crate::Result;

impl WebGpuBackend {
    /// The call's tables, parameters and dispatch list.
    pub(super) fn plan(
        &mut self,
        steps: &[RowStep<'_>],
        total: usize,
        mixed: Option<&[MixRead]>,
    ) -> Result<Vec<Op>> {
        self.frame.clear();
        let tables = self.tables(steps, total);
        let w = &self.weights;
        let mut p = Planner {
            fr: &mut self.frame,
            ops: Vec::new(),
            weight_bytes: 0,
            cfg: &self.config,
            matmul: self.matmul,
            adapters: &self.adapters,
            lora_tasks: &tables.lora_tasks,
        };
        p.embed(w, total, tables.tok_off);
        for (l, lw) in w.layers.iter().enumerate() {
            p.attention(l, lw, &tables, total);
            p.mlp(l, lw, total);
        }
        p.readout(w, steps, mixed)?;
        let (ops, weight_bytes) = (p.ops, p.weight_bytes);
        self.gpu_counters.weight_bytes_read += weight_bytes;
        Ok(ops)
    }
}

/// The dispatch list under construction: the call's frame (tables and
/// parameter slots), the ops so far and the weight bytes they read.
struct Planner<'a> {
    fr: &'a mut Frame,
    ops: Vec<Op>,
    weight_bytes: u64,
    cfg: &'a LlamaConfig,
    matmul: MatmulKernel,
    adapters: &'a [GpuAdapter],
    /// (adapter, meta offset of its tasks, task count) per adapter in use.
    lora_tasks: &'a [(usize, u32, usize)],
}

impl Planner<'_> {
    /// One dispatch of `kernel` with a fresh parameter slot.
    fn dispatch(&mut self, kernel: Kernel, bufs: Vec<B>, param: &[P], groups: [u32; 3]) {
        let param = self.fr.param(param);
        self.ops.push(Op::Dispatch {
            kernel,
            bufs,
            param,
            groups,
        });
    }

    /// `y (ld ldy) [+]= m · x` for `n_tok` positions (`acc`: accumulate).
    #[allow(clippy::too_many_arguments)]
    fn matmul(&mut self, m: &GpuMatrix, w: B, x: B, y: B, n_tok: usize, ldy: usize, acc: bool) {
        let param = [
            u(m.rows),
            u(m.cols),
            u(n_tok),
            u(ldy),
            u(0),
            u(usize::from(acc)),
        ];
        self.weight_bytes += m.bytes() * n_tok.div_ceil(8) as u64;
        let (kernel, rows_per_group) = match (self.matmul, m.qtype) {
            (MatmulKernel::Lanes, QType::Q41) => (Kernel::MatmulQ41, 8),
            (MatmulKernel::Lanes, QType::Q80) => (Kernel::MatmulQ80, 8),
            (MatmulKernel::Rows, QType::Q41) => (Kernel::MatmulQ41Rows, 64),
            (MatmulKernel::Rows, QType::Q80) => (Kernel::MatmulQ80Rows, 64),
        };
        let groups = [
            m.rows.div_ceil(rows_per_group) as u32,
            n_tok.div_ceil(8) as u32,
            1,
        ];
        self.dispatch(kernel, vec![w, x, y], &param, groups);
    }

    /// LoRA deltas of `module` in layer `l`: x (ld ldx) -> y (ld ldy, column y_off).
    #[allow(clippy::too_many_arguments)]
    fn lora(&mut self, l: usize, m: Module, x: B, ldx: usize, y: B, ldy: usize, y_off: usize) {
        let dims = m.shape(self.cfg);
        for &(a, tasks_off, n) in self.lora_tasks {
            let Some(slot) = self.adapters[a].slots.get(&(l, m)) else {
                continue;
            };
            let param = [
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
            ];
            self.weight_bytes += GpuAdapter::delta_bytes(slot, dims) * n as u64;
            let bufs = vec![B::Meta, B::Adapter(a), x, y];
            self.dispatch(Kernel::Lora, bufs, &param, [n as u32, 1, 1]);
        }
    }

    /// RMSNorm of `n_rows` rows of `x` (or the rows `gather` lists) into `Xn`.
    fn norm(&mut self, g_off: usize, n_rows: usize, gather: Option<u32>, x: B) {
        let param = [
            u(self.cfg.hidden),
            u(n_rows),
            u(g_off),
            u(usize::from(gather.is_some())),
            P::U(gather.unwrap_or(0)),
            P::F(self.cfg.rms_eps),
        ];
        let bufs = vec![B::Meta, B::Norms, x, B::Xn];
        self.dispatch(Kernel::RmsNorm, bufs, &param, [n_rows as u32, 1, 1]);
    }
}
