//! The WebGPU backend: the same batched multi-row llama forward as the CPU
//! backend, as WGSL compute kernels through `wgpu` (the browser's WebGPU in
//! wasm, Vulkan natively: Mesa's lavapipe in tests). Weights stay quantized
//! on the GPU (Q4_1 / Q8_0 blocks dequantized inside the kernels), every
//! row's KV cache lives in a paged GPU pool (truncate = drop pages, fork =
//! GPU copy), and one call is one submission: the host uploads token ids and
//! small tables, and reads back only what the step needs — whole
//! vocabularies only for dense read-outs; token scores, top-k and PDD's /
//! MOD's per-step mixes are reduced on the GPU to a few words (`layout.rs`,
//! `plan/`, `shaders/sparse_readout.wgsl`, `shaders/combine.wgsl`). This
//! file holds the backend's state, rows and the call's steps (pages, plan,
//! upload, submit, read back); `plan/` builds the dispatch list,
//! `encode.rs` turns it into a command buffer.

mod counters;
mod device;
mod encode;
mod frame;
mod kernels;
mod kv_cache;
mod layout;
mod lora;
mod plan;
mod readback;
mod weights;

pub use counters::GpuCounters;

use std::collections::HashMap;
use std::future::Future;

use device::{Buf, Gpu};
use frame::Frame;
pub use kernels::MatmulKernel;
use kernels::{Kernel, Pipelines, PARAM_SLOT};
use kv_cache::{KvPool, RowPages, PAGE};
use layout::{Layout, LOGIT_CHUNK};
use lora::GpuAdapter;
use weights::GpuWeights;

use super::{AdapterId, Backend, BackendCounters, LogProbs, MixRead, Mixed, RowId, RowStep};
use crate::model::lora::LoraAdapter;
use crate::model::{GgufFile, LlamaConfig};
use crate::{Error, Result};

/// KV pages allocated at start (grown by doubling).
const INITIAL_PAGES: usize = 32;

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

    /// The forward pass; the rows' caches grow by their steps' tokens.
    pub async fn forward_async(&mut self, steps: &[RowStep<'_>]) -> Result<Vec<LogProbs>> {
        let vocab = self.config.vocab;
        let (layout, bytes) = self.forward_bytes(steps, None).await?;
        Ok(layout.split(steps, vocab, &bytes))
    }

    /// [`Backend::forward_mixed`] on the device: the positions read stay in
    /// the logits buffer, each read's mix is combined, normalised and ranked
    /// there, and only `layout::read_words` words per read come back.
    pub async fn forward_mixed_async(
        &mut self,
        steps: &[RowStep<'_>],
        reads: &[MixRead],
    ) -> Result<Vec<Mixed>> {
        super::check_mixed(steps, reads)?;
        let (_, bytes) = self.forward_bytes(steps, Some(reads)).await?;
        Ok(Layout::mixed(reads, steps.len(), &bytes))
    }

    /// One forward; returns where the read-outs sit in the bytes read back.
    async fn forward_bytes(
        &mut self,
        steps: &[RowStep<'_>],
        mixed: Option<&[MixRead]>,
    ) -> Result<(Layout, Vec<u8>)> {
        self.gpu.check()?;
        self.validate(steps)?;
        let cfg = self.config.clone();
        let vocab = cfg.vocab;
        let total: usize = steps.iter().map(|s| s.tokens.len()).sum();
        let layout = Layout::of(steps, mixed);
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
            return Ok((layout, Vec::new()));
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

        let ops = self.plan(steps, total, mixed)?;
        self.ensure_capacity(total, staging_bytes, layout.sparse_words);

        // Upload the call's tables and parameters.
        let meta = self.frame.meta_bytes();
        self.gpu.queue.write_buffer(&self.meta.buffer, 0, &meta);
        self.gpu
            .queue
            .write_buffer(&self.params.buffer, 0, &self.frame.params);
        self.gpu_counters.bytes_uploaded += (meta.len() + self.frame.params.len()) as u64;
        let commands = self.encode(&ops);
        self.gpu.queue.submit([commands]);
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
        Ok((layout, bytes))
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

    fn forward_mixed(
        &mut self,
        steps: &[RowStep<'_>],
        reads: &[MixRead],
    ) -> impl Future<Output = Result<Vec<Mixed>>> {
        self.forward_mixed_async(steps, reads)
    }

    fn counters(&self) -> BackendCounters {
        self.counters
    }
}
