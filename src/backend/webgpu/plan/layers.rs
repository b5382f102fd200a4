//! The transformer's dispatches: the token embedding, then per layer the
//! attention block (norm, fused QKV matmul with LoRA deltas, rope + KV
//! write into the paged pool, attention, output matmul) and the MLP block
//! (norm, fused gate/up matmul, SwiGLU, down matmul), each adding into the
//! residual stream `X`.

use super::super::encode::B;
use super::super::frame::{u, P};
use super::super::kernels::Kernel;
use super::super::kv_cache::PAGE;
use super::super::weights::{GpuLayer, GpuWeights, QType};
use super::tables::Tables;
use super::Planner;
use crate::model::lora::Module;

impl Planner<'_> {
    /// `X` = the embeddings of the call's `total` tokens.
    pub(super) fn embed(&mut self, w: &GpuWeights, total: usize, tok_off: u32) {
        let h = self.cfg.hidden;
        let kernel = match w.embed.qtype {
            QType::Q80 => Kernel::EmbedQ80,
            QType::Q41 => Kernel::EmbedQ41,
        };
        let param = [u(h), u(total), P::U(tok_off)];
        let groups = [h.div_ceil(64) as u32, total as u32, 1];
        self.dispatch(kernel, vec![B::Meta, B::Embed, B::X], &param, groups);
        self.weight_bytes += (total * h / 32) as u64 * w.embed.qtype.block_bytes();
    }

    /// Layer `l`'s attention block over every new position.
    pub(super) fn attention(&mut self, l: usize, lw: &GpuLayer, t: &Tables, total: usize) {
        let cfg = self.cfg;
        let (h, kv, hd) = (cfg.hidden, cfg.kv_dim(), cfg.head_dim);
        let qkv_w = h + 2 * kv;
        let shape = [
            u(total),
            u(cfg.n_head),
            u(cfg.n_kv_head),
            u(hd),
            u(qkv_w),
            P::U(t.info_off),
            P::U(t.steps_off),
        ];
        self.norm(lw.attn_norm, total, None, B::X);
        self.matmul(&lw.qkv, B::WQkv(l), B::Xn, B::Qkv, total, qkv_w, false);
        self.lora(l, Module::Q, B::Xn, h, B::Qkv, qkv_w, 0);
        self.lora(l, Module::K, B::Xn, h, B::Qkv, qkv_w, h);
        self.lora(l, Module::V, B::Xn, h, B::Qkv, qkv_w, h + kv);
        let mut p = shape.to_vec();
        p.extend([P::U(t.rope_off), u(PAGE)]);
        let pairs = (cfg.n_head + cfg.n_kv_head) * hd / 2 + kv / 2;
        let groups = [pairs.div_ceil(64) as u32, total as u32, 1];
        self.dispatch(Kernel::RopeKv, vec![B::Meta, B::Qkv, B::Kv(l)], &p, groups);
        let mut p = shape.to_vec();
        p.extend([u(PAGE), P::F(1.0 / (hd as f32).sqrt())]);
        let bufs = vec![B::Meta, B::Qkv, B::Kv(l), B::Att];
        let groups = [cfg.n_head as u32, total as u32, 1];
        self.dispatch(Kernel::Attention, bufs, &p, groups);
        self.matmul(&lw.wo, B::Wo(l), B::Att, B::X, total, h, true);
        self.lora(l, Module::O, B::Att, h, B::X, h, 0);
    }

    /// Layer `l`'s MLP block over every new position.
    pub(super) fn mlp(&mut self, l: usize, lw: &GpuLayer, total: usize) {
        let (h, f) = (self.cfg.hidden, self.cfg.ffn);
        self.norm(lw.ffn_norm, total, None, B::X);
        self.matmul(&lw.gate_up, B::WGu(l), B::Xn, B::Gu, total, 2 * f, false);
        self.lora(l, Module::Gate, B::Xn, h, B::Gu, 2 * f, 0);
        self.lora(l, Module::Up, B::Xn, h, B::Gu, 2 * f, f);
        let groups = [f.div_ceil(256) as u32, total as u32, 1];
        self.dispatch(
            Kernel::Swiglu,
            vec![B::Gu, B::Act],
            &[u(f), u(total)],
            groups,
        );
        self.matmul(&lw.down, B::WDown(l), B::Act, B::X, total, h, true);
        self.lora(l, Module::Down, B::Act, f, B::X, h, 0);
    }
}
