//! The WebGPU backend: the same batched multi-row llama forward as the CPU
//! backend, as WGSL compute kernels through `wgpu` (the browser's WebGPU in
//! wasm, Vulkan natively: Mesa's lavapipe in tests). Weights stay quantized
//! on the GPU (Q4_1 / Q8_0 blocks dequantized inside the kernels), every
//! row's KV cache lives in a paged GPU pool (truncate = drop pages, fork =
//! GPU copy), and one call is one submission: the host uploads token ids and
//! small tables, and reads back only the log-probs asked for.

mod counters;
mod device;
mod frame;
mod kernels;
mod kv_cache;
mod lora;
mod readback;
mod weights;

pub use counters::GpuCounters;

use std::collections::HashMap;
use std::future::Future;

use device::{Buf, Gpu};
use frame::{u, Frame, P};
pub use kernels::MatmulKernel;
use kernels::{Kernel, Pipelines, PARAM_SLOT};
use kv_cache::{KvPool, RowPages, PAGE};
use lora::GpuAdapter;
use weights::{GpuMatrix, GpuWeights, QType};

use super::{AdapterId, Backend, BackendCounters, LogProbs, Readout, RowId, RowStep};
use crate::backend::cpu::ops::rope_table as ops_rope_table;
use crate::model::lora::{LoraAdapter, Module};
use crate::model::{GgufFile, LlamaConfig};
use crate::{Error, Result};

/// Read-out positions per output-projection pass (bounds the logits buffer).
const LOGIT_CHUNK: usize = 64;
/// KV pages allocated at start (grown by doubling).
const INITIAL_PAGES: usize = 32;

/// A buffer a dispatch binds, resolved when the call is encoded.
#[derive(Debug, Clone, Copy)]
enum B {
    Meta,
    Norms,
    X,
    Xn,
    Qkv,
    Att,
    Gu,
    Act,
    Logits,
    Sparse,
    Embed,
    Output,
    WQkv(usize),
    Wo(usize),
    WGu(usize),
    WDown(usize),
    Kv(usize),
    Adapter(usize),
}

enum Op {
    Dispatch {
        kernel: Kernel,
        bufs: Vec<B>,
        param: u32,
        groups: [u32; 3],
    },
    /// Copies `bytes` from `from` (logits, or the sparse read-outs) into
    /// the staging buffer at `to`.
    Copy {
        from: B,
        at: u64,
        bytes: u64,
        to: u64,
    },
}

/// One read-out position, in the order the read-out pass handles them:
/// dense rows first, then gathered scores, then top-k rows (by k).
#[derive(Clone, Copy)]
enum Read {
    /// A whole vocabulary, copied to staging.
    Dense,
    /// The log-prob of `target` (one word of the sparse buffer).
    Score { target: u32 },
    /// The best `k` (2k words of the sparse buffer).
    Top { k: u32 },
}

/// Where a call's read-outs land in the staging buffer.
#[derive(Default)]
struct Layout {
    dense_positions: usize,
    sparse_words: usize,
}

/// Activation buffers sized for `tokens` positions.
struct Acts {
    tokens: usize,
    x: Buf,
    xn: Buf,
    qkv: Buf,
    att: Buf,
    gu: Buf,
    act: Buf,
}

impl Acts {
    fn new(gpu: &Gpu, c: &LlamaConfig, tokens: usize) -> Self {
        let f = |n: usize| (tokens * n * 4) as u64;
        Self {
            tokens,
            x: gpu.storage("x", f(c.hidden)),
            xn: gpu.storage("xn", f(c.hidden)),
            qkv: gpu.storage("qkv", f(c.hidden + 2 * c.kv_dim())),
            att: gpu.storage("att", f(c.hidden)),
            gu: gpu.storage("gate_up", f(2 * c.ffn)),
            act: gpu.storage("ffn act", f(c.ffn)),
        }
    }
}

pub struct WebGpuBackend {
    gpu: Gpu,
    config: LlamaConfig,
    pipes: Pipelines,
    weights: GpuWeights,
    kv: KvPool,
    rows: Vec<Option<RowPages>>,
    mixes: Vec<Vec<(usize, f32)>>,
    adapters: Vec<GpuAdapter>,
    acts: Acts,
    logits: Buf,
    sparse: Buf,
    params: Buf,
    meta: Buf,
    staging: Buf,
    scratch: Buf,
    binds: HashMap<(Kernel, Vec<u64>, u64), wgpu::BindGroup>,
    matmul: MatmulKernel,
    frame: Frame,
    counters: BackendCounters,
    gpu_counters: GpuCounters,
}

fn backend_err(msg: impl Into<String>) -> Error {
    Error::Backend(msg.into())
}

impl WebGpuBackend {
    /// Opens the platform's WebGPU adapter and uploads the model's weights.
    pub async fn new(file: &GgufFile, config: &LlamaConfig) -> Result<Self> {
        if config.head_dim != PAGE {
            return Err(Error::UnsupportedModel(format!(
                "head dim {} : the WebGPU attention kernel handles head dim {PAGE}",
                config.head_dim
            )));
        }
        let gpu = Gpu::new().await?;
        let pipes = Pipelines::new(&gpu);
        let weights = GpuWeights::upload(&gpu, file, config)?;
        let kv = KvPool::new(&gpu, config.n_layer, config.kv_dim(), INITIAL_PAGES);
        let acts = Acts::new(&gpu, config, 16);
        let logits = gpu.storage("logits", (LOGIT_CHUNK * config.vocab * 4) as u64);
        let sparse = gpu.storage("sparse read-outs", 4096);
        let params = gpu.buffer(
            "params",
            64 * PARAM_SLOT,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let meta = gpu.storage("meta", 4096);
        let staging = gpu.buffer(
            "staging",
            (config.vocab * 4) as u64,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let scratch = gpu.storage("fork scratch", 16);
        let matmul = if gpu.is_software() {
            MatmulKernel::Rows
        } else {
            MatmulKernel::Lanes
        };
        Ok(Self {
            matmul,
            gpu,
            config: config.clone(),
            pipes,
            weights,
            kv,
            rows: Vec::new(),
            mixes: Vec::new(),
            adapters: Vec::new(),
            acts,
            logits,
            sparse,
            params,
            meta,
            staging,
            scratch,
            binds: HashMap::new(),
            frame: Frame::default(),
            counters: BackendCounters::default(),
            gpu_counters: GpuCounters::default(),
        })
    }

    /// The matmul kernels in use (chosen by adapter type at load).
    pub fn matmul_kernel(&self) -> MatmulKernel {
        self.matmul
    }

    /// Switches the matmul kernels (both variants compute the same sums in
    /// different orders; tests run each on lavapipe).
    pub fn set_matmul_kernel(&mut self, kernel: MatmulKernel) {
        self.matmul = kernel;
    }

    /// Dispatches, submissions and bytes moved so far.
    pub fn gpu_counters(&self) -> GpuCounters {
        self.gpu_counters
    }

    /// What the adapter says about itself (backend, device type, driver).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.gpu.info
    }

    /// Whether the adapter is a software rasterizer (lavapipe, SwiftShader).
    pub fn is_software(&self) -> bool {
        self.gpu.is_software()
    }

    /// Bytes of weights held on the GPU.
    pub fn weight_bytes(&self) -> u64 {
        self.weights.bytes()
    }

    /// Positions the KV pool holds per layer before it grows.
    pub fn kv_capacity(&self) -> usize {
        self.kv.capacity() * PAGE
    }

    /// Destroys the GPU device, as a driver reset or a lost tab would: every
    /// later call fails with [`Error::DeviceLost`] (tests the CPU fallback).
    pub fn lose_device(&self) {
        self.gpu.destroy();
    }

    /// Adds an adapter; rows use it through [`Backend::set_row_adapters`].
    pub fn add_adapter(&mut self, adapter: LoraAdapter) -> Result<AdapterId> {
        self.gpu.check()?;
        self.adapters.push(GpuAdapter::upload(&self.gpu, &adapter)?);
        Ok(AdapterId(self.adapters.len() - 1))
    }

    fn row(&self, row: RowId) -> Result<&RowPages> {
        self.rows
            .get(row.0)
            .and_then(|r| r.as_ref())
            .ok_or_else(|| backend_err(format!("row {} does not exist", row.0)))
    }

    fn insert(&mut self, pages: RowPages, mix: Vec<(usize, f32)>) -> RowId {
        if let Some(i) = self.rows.iter().position(|r| r.is_none()) {
            self.rows[i] = Some(pages);
            self.mixes[i] = mix;
            RowId(i)
        } else {
            self.rows.push(Some(pages));
            self.mixes.push(mix);
            RowId(self.rows.len() - 1)
        }
    }

    fn validate(&self, steps: &[RowStep<'_>]) -> Result<()> {
        super::validate_steps(&self.config, steps, |row| Ok(self.row(row)?.len))
    }

    fn buf(&self, b: B) -> &Buf {
        let w = &self.weights;
        match b {
            B::Meta => &self.meta,
            B::Norms => &w.norms,
            B::X => &self.acts.x,
            B::Xn => &self.acts.xn,
            B::Qkv => &self.acts.qkv,
            B::Att => &self.acts.att,
            B::Gu => &self.acts.gu,
            B::Act => &self.acts.act,
            B::Logits => &self.logits,
            B::Sparse => &self.sparse,
            B::Embed => &w.embed.buf,
            B::Output => &w.output().buf,
            B::WQkv(l) => &w.layers[l].qkv.buf,
            B::Wo(l) => &w.layers[l].wo.buf,
            B::WGu(l) => &w.layers[l].gate_up.buf,
            B::WDown(l) => &w.layers[l].down.buf,
            B::Kv(l) => &self.kv.layers[l],
            B::Adapter(a) => &self.adapters[a].buf,
        }
    }

    /// The forward pass; the rows' caches grow by their steps' tokens.
    pub async fn forward_async(&mut self, steps: &[RowStep<'_>]) -> Result<Vec<LogProbs>> {
        self.gpu.check()?;
        self.validate(steps)?;
        let cfg = self.config.clone();
        let vocab = cfg.vocab;
        let total: usize = steps.iter().map(|s| s.tokens.len()).sum();
        let layout = Layout::of(steps);
        let dense_bytes = (layout.dense_positions * vocab * 4) as u64;
        let staging_bytes = dense_bytes + (layout.sparse_words * 4) as u64;
        if staging_bytes > self.gpu.limits.max_buffer_size {
            return Err(backend_err(format!(
                "{} read-out positions in one call exceed the adapter's buffer size; read out fewer positions per call",
                layout.dense_positions
            )));
        }
        self.counters.forward_calls += 1;
        self.counters.row_evaluations += steps.len() as u64;
        self.counters.positions += total as u64;
        if total == 0 {
            return Ok(steps
                .iter()
                .map(|_| LogProbs::dense(vocab, Vec::new()))
                .collect());
        }

        // Pages for the new positions.
        for s in steps {
            let r = self.rows[s.row.0].as_mut().expect("validated row");
            let need = RowPages::pages_for(r.len + s.tokens.len()).saturating_sub(r.pages.len());
            let mut got = Vec::new();
            if self.kv.take(&self.gpu, need, &mut got)? {
                self.gpu_counters.submissions += 1;
                self.binds.clear();
            }
            self.rows[s.row.0]
                .as_mut()
                .expect("validated row")
                .pages
                .extend(got);
        }

        let ops = self.plan(steps, total)?;
        self.ensure_capacity(total, staging_bytes, layout.sparse_words);

        // Upload the call's tables and parameters.
        let meta = self.frame.meta_bytes();
        self.gpu.queue.write_buffer(&self.meta.buffer, 0, &meta);
        self.gpu
            .queue
            .write_buffer(&self.params.buffer, 0, &self.frame.params);
        self.gpu_counters.bytes_uploaded += (meta.len() + self.frame.params.len()) as u64;

        let mut enc = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("forward"),
            });
        let mut i = 0;
        while i < ops.len() {
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("forward"),
                    timestamp_writes: None,
                });
                while let Some(Op::Dispatch {
                    kernel,
                    bufs,
                    param,
                    groups,
                }) = ops.get(i)
                {
                    let bg = self.bind_group(*kernel, bufs);
                    pass.set_pipeline(self.pipes.pipeline(*kernel));
                    pass.set_bind_group(0, &bg, &[*param]);
                    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                    self.gpu_counters.dispatches += 1;
                    i += 1;
                }
            }
            while let Some(&Op::Copy {
                from,
                at,
                bytes,
                to,
            }) = ops.get(i)
            {
                enc.copy_buffer_to_buffer(
                    &self.buf(from).buffer,
                    at,
                    &self.staging.buffer,
                    to,
                    bytes,
                );
                i += 1;
            }
        }
        self.gpu.queue.submit([enc.finish()]);
        self.gpu_counters.submissions += 1;
        for s in steps {
            self.rows[s.row.0].as_mut().expect("validated row").len += s.tokens.len();
        }

        let bytes = if staging_bytes > 0 {
            self.gpu_counters.bytes_read_back += staging_bytes;
            let read =
                readback::read_bytes(&self.gpu.device, &self.staging.buffer, staging_bytes).await;
            // A fault explains a failed (or garbage) read better than the read's own error.
            self.gpu.check()?;
            read?
        } else {
            self.gpu.check()?;
            Vec::new()
        };
        Ok(layout.split(steps, vocab, &bytes))
    }

    fn ensure_capacity(&mut self, total: usize, staging_bytes: u64, sparse_words: usize) {
        let gpu = &self.gpu;
        let sparse = (sparse_words * 4) as u64;
        if self.sparse.size < sparse {
            self.sparse = gpu.storage("sparse read-outs", sparse.next_power_of_two());
            self.binds.clear();
        }
        if self.acts.tokens < total {
            self.acts = Acts::new(gpu, &self.config, total.next_power_of_two());
            self.binds.clear();
        }
        let params = self.frame.params.len() as u64;
        if self.params.size < params {
            self.params = gpu.buffer(
                "params",
                params.next_power_of_two(),
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            );
            self.binds.clear();
        }
        let meta = (self.frame.meta.len() * 4) as u64;
        if self.meta.size < meta {
            self.meta = gpu.storage("meta", meta.next_power_of_two());
            self.binds.clear();
        }
        if self.staging.size < staging_bytes {
            self.staging = gpu.buffer(
                "staging",
                staging_bytes.next_power_of_two(),
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            );
        }
    }

    fn bind_group(&mut self, kernel: Kernel, bufs: &[B]) -> wgpu::BindGroup {
        let ids: Vec<u64> = bufs.iter().map(|&b| self.buf(b).id).collect();
        let key = (kernel, ids, self.params.id);
        if let Some(bg) = self.binds.get(&key) {
            return bg.clone();
        }
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.params.buffer,
                offset: 0,
                size: std::num::NonZeroU64::new(PARAM_SLOT),
            }),
        }];
        for (i, &b) in bufs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: self.buf(b).buffer.as_entire_binding(),
            });
        }
        let bg = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: self.pipes.layout(kernel),
                entries: &entries,
            });
        self.binds.insert(key, bg.clone());
        bg
    }

    /// The call's tables, parameters and dispatch list.
    fn plan(&mut self, steps: &[RowStep<'_>], total: usize) -> Result<Vec<Op>> {
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
                ops_rope_table(len + i, hd, cfg.rope_base, &mut c, &mut sn);
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
        // log-softmax in chunks of LOGIT_CHUNK positions; then dense rows are
        // copied to staging and sparse read-outs reduced on the GPU.
        let reads = Layout::reads(steps);
        let out = w.output();
        let vocab = cfg.vocab;
        let row_bytes = (vocab * 4) as u64;
        let (mut dense_at, mut sparse_at) = (0u64, 0u32);
        for chunk in reads.chunks(LOGIT_CHUNK) {
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
                    Read::Top { k } => {
                        let param = fr.param(&[u(vocab), P::U(k), u(r0), P::U(sparse_at), P::U(0)]);
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

impl Backend for WebGpuBackend {
    fn name(&self) -> String {
        let i = &self.gpu.info;
        let kind = if self.gpu.is_software() {
            ", software"
        } else {
            ""
        };
        format!("webgpu ({:?}: {}{kind})", i.backend, i.name)
    }

    fn config(&self) -> &LlamaConfig {
        &self.config
    }

    fn new_row(&mut self) -> Result<RowId> {
        Ok(self.insert(RowPages::default(), Vec::new()))
    }

    fn fork_row(&mut self, src: RowId, len: usize) -> Result<RowId> {
        self.gpu.check()?;
        let have = self.row(src)?.len;
        if len > have {
            return Err(backend_err(format!(
                "cannot fork {len} positions from row {} holding {have}",
                src.0
            )));
        }
        let n = RowPages::pages_for(len);
        let mut pages = Vec::with_capacity(n);
        if self.kv.take(&self.gpu, n, &mut pages)? {
            self.gpu_counters.submissions += 1;
            self.binds.clear();
        }
        if n > 0 {
            let bytes = n as u64 * self.kv.page_bytes();
            if self.scratch.size < bytes {
                self.scratch = self.gpu.storage("fork scratch", bytes.next_power_of_two());
            }
            let src_pages = &self.row(src)?.pages[..n];
            let mut enc = self
                .gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("fork"),
                });
            self.kv
                .copy_pages(&mut enc, &self.scratch.buffer, src_pages, &pages);
            self.gpu.queue.submit([enc.finish()]);
            self.gpu_counters.submissions += 1;
        }
        let mix = self.mixes[src.0].clone();
        Ok(self.insert(RowPages { len, pages }, mix))
    }

    fn truncate_row(&mut self, row: RowId, len: usize) -> Result<()> {
        self.row(row)?;
        let r = self.rows[row.0].as_mut().expect("checked");
        r.len = r.len.min(len);
        let keep = RowPages::pages_for(r.len);
        let dropped: Vec<u32> = r.pages.drain(keep.min(r.pages.len())..).collect();
        self.kv.give_back(dropped);
        Ok(())
    }

    fn free_row(&mut self, row: RowId) {
        if let Some(slot) = self.rows.get_mut(row.0) {
            if let Some(r) = slot.take() {
                self.kv.give_back(r.pages);
            }
        }
    }

    fn set_row_adapters(&mut self, row: RowId, mix: &[(AdapterId, f32)]) -> Result<()> {
        self.row(row)?;
        if let Some((bad, _)) = mix.iter().find(|(a, _)| a.0 >= self.adapters.len()) {
            return Err(backend_err(format!("adapter {} is not loaded", bad.0)));
        }
        if self.row(row)?.len > 0 {
            return Err(backend_err(format!(
                "row {} already holds positions; set its adapters before the prompt",
                row.0
            )));
        }
        self.mixes[row.0] = mix.iter().map(|&(a, w)| (a.0, w)).collect();
        Ok(())
    }

    fn row_len(&self, row: RowId) -> Result<usize> {
        Ok(self.row(row)?.len)
    }

    fn forward(&mut self, steps: &[RowStep<'_>]) -> impl Future<Output = Result<Vec<LogProbs>>> {
        self.forward_async(steps)
    }

    fn counters(&self) -> BackendCounters {
        self.counters
    }
}

impl Layout {
    /// Staging space of a call: dense positions, then sparse words.
    fn of(steps: &[RowStep<'_>]) -> Self {
        let mut l = Self::default();
        for s in steps {
            let n = s.readout.positions(s.tokens.len()).len();
            match s.readout {
                Readout::None => {}
                Readout::Last | Readout::All => l.dense_positions += n,
                Readout::Score => l.sparse_words += n,
                Readout::TopK(k) => l.sparse_words += 2 * k,
            }
        }
        l
    }

    /// Every read-out position (token index in the call, kind) in the order
    /// of the read-out pass and the staging buffer: dense, scores, top-k by k.
    fn reads(steps: &[RowStep<'_>]) -> Vec<(u32, Read)> {
        let (mut dense, mut scores, mut tops) = (Vec::new(), Vec::new(), Vec::new());
        let mut t0 = 0;
        for s in steps {
            let n = s.tokens.len();
            for i in s.readout.positions(n) {
                let t = (t0 + i) as u32;
                match s.readout {
                    Readout::None => {}
                    Readout::Last | Readout::All => dense.push((t, Read::Dense)),
                    Readout::Score => scores.push((
                        t,
                        Read::Score {
                            target: s.tokens[i + 1],
                        },
                    )),
                    Readout::TopK(k) => tops.push((t, Read::Top { k: k as u32 })),
                }
            }
            t0 += n;
        }
        // Stable: step order within one k.
        tops.sort_by_key(|&(_, r)| match r {
            Read::Top { k } => k,
            _ => 0,
        });
        dense.into_iter().chain(scores).chain(tops).collect()
    }

    /// Each step's read-out from the staging bytes, laid out as `reads`
    /// ordered them: dense rows, scores in step order, top-k rows by k (and
    /// step order within one k).
    fn split(&self, steps: &[RowStep<'_>], vocab: usize, bytes: &[u8]) -> Vec<LogProbs> {
        let word =
            |i: usize| u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        let f = |i: usize| f32::from_bits(word(i));
        let n_of = |s: &RowStep<'_>| s.readout.positions(s.tokens.len()).len();
        let mut at = vec![0; steps.len()];
        let mut dense_at = 0;
        let mut sparse_at = self.dense_positions * vocab;
        for (i, s) in steps.iter().enumerate() {
            if s.readout.is_dense() {
                at[i] = dense_at;
                dense_at += n_of(s) * vocab;
            } else if s.readout == Readout::Score {
                at[i] = sparse_at;
                sparse_at += n_of(s);
            }
        }
        let mut tops: Vec<(usize, usize)> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s.readout {
                Readout::TopK(k) => Some((i, k)),
                _ => None,
            })
            .collect();
        tops.sort_by_key(|&(_, k)| k);
        for (i, k) in tops {
            at[i] = sparse_at;
            sparse_at += 2 * k;
        }
        steps
            .iter()
            .zip(at)
            .map(|(s, o)| {
                let n = n_of(s);
                match s.readout {
                    Readout::None => LogProbs::dense(vocab, Vec::new()),
                    Readout::Last | Readout::All => {
                        LogProbs::dense(vocab, (o..o + n * vocab).map(f).collect())
                    }
                    Readout::Score => LogProbs {
                        vocab,
                        scores: (o..o + n).map(f).collect(),
                        ..LogProbs::default()
                    },
                    Readout::TopK(k) => LogProbs {
                        vocab,
                        top: (0..k)
                            .map(|j| (word(o + 2 * j), f(o + 2 * j + 1)))
                            .collect(),
                        ..LogProbs::default()
                    },
                }
            })
            .collect()
    }
}
