//! The CPU backend: the batched multi-row llama forward on flat f32 buffers,
//! with repacked quantized matrices and SIMD kernels (AVX2 natively, simd128
//! in wasm) that widen the weights to f32 in registers. One call runs all rows' new positions through each
//! layer together, so every weight is read once per call.

mod attention;
mod attention_dot;
mod interleave;
pub mod kernels;
mod kv_cache;
mod lora;
pub(crate) mod ops;
pub mod quant;
#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
pub mod spin_pool;
pub mod threads;
mod weights;

pub use weights::{CpuWeights, Linear, WeightMode};

use std::future::Future;

use attention::{attend, AttentionShape};
use kv_cache::RowCache;
use quant::{Activations, Prepared};
use threads::Threads;

use super::rope::rope_table;
use super::{Backend, BackendCounters, LogProbs, RowId, RowStep};
use crate::dist::log_softmax;
use crate::model::lora::{LoraAdapter, Module};
use crate::model::{GgufFile, LlamaConfig};
use crate::{Error, Result};

pub struct CpuBackend {
    weights: CpuWeights,
    rows: Vec<Option<RowCache>>,
    /// Each row's adapter mix (adapter index, weight).
    mixes: Vec<Vec<(usize, f32)>>,
    adapters: Vec<LoraAdapter>,
    counters: BackendCounters,
    scratch: Scratch,
    threads: Threads,
}

/// Buffers reused across calls so a decode step allocates (almost) nothing.
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    prep: Prepared,
}

impl Scratch {
    fn new(activations: Activations) -> Self {
        let v = Vec::new;
        Self {
            x: v(),
            xn: v(),
            q: v(),
            k: v(),
            v: v(),
            att: v(),
            proj: v(),
            gate: v(),
            up: v(),
            prep: Prepared::new(activations),
        }
    }
}

impl CpuBackend {
    pub fn new(file: &GgufFile, config: &LlamaConfig, mode: WeightMode) -> Result<Self> {
        let weights = CpuWeights::load(file, config, mode)?;
        Ok(Self {
            scratch: Scratch::new(weights.activations()),
            weights,
            rows: Vec::new(),
            mixes: Vec::new(),
            adapters: Vec::new(),
            counters: BackendCounters::default(),
            threads: Threads::new(threads::default_threads())?,
        })
    }

    /// Runs the matrix products on `n` threads from now on (the logits do
    /// not change: see `threads`).
    pub fn set_threads(&mut self, n: usize) -> Result<()> {
        self.threads = Threads::new(n)?;
        Ok(())
    }

    /// Which pool runs the matrix products (`Threads::pool_kind`).
    pub fn thread_pool_kind(&self) -> &'static str {
        self.threads.pool_kind()
    }

    /// The threads the matrix products run on.
    pub fn threads(&self) -> usize {
        self.threads.count()
    }

    pub fn weight_mode(&self) -> WeightMode {
        self.weights.mode
    }

    fn cache(&self, row: RowId) -> Result<&RowCache> {
        self.rows
            .get(row.0)
            .and_then(|r| r.as_ref())
            .ok_or_else(|| Error::Backend(format!("row {} does not exist", row.0)))
    }

    fn insert(&mut self, cache: RowCache, mix: Vec<(usize, f32)>) -> RowId {
        if let Some(i) = self.rows.iter().position(|r| r.is_none()) {
            self.rows[i] = Some(cache);
            self.mixes[i] = mix;
            RowId(i)
        } else {
            self.rows.push(Some(cache));
            self.mixes.push(mix);
            RowId(self.rows.len() - 1)
        }
    }

    /// Adds an adapter; rows use it through [`Backend::set_row_adapters`].
    pub fn add_adapter(&mut self, adapter: LoraAdapter) -> super::AdapterId {
        self.adapters.push(adapter);
        super::AdapterId(self.adapters.len() - 1)
    }

    fn validate(&self, steps: &[RowStep<'_>]) -> Result<()> {
        super::validate_steps(&self.weights.config, steps, |row| {
            Ok(self.cache(row)?.len())
        })
    }

    /// The forward pass itself; the caches of all rows grow by their steps' tokens.
    pub fn forward_sync(&mut self, steps: &[RowStep<'_>]) -> Result<Vec<LogProbs>> {
        self.validate(steps)?;
        let start_lens: Vec<usize> = steps
            .iter()
            .map(|s| self.rows[s.row.0].as_ref().map_or(0, |c| c.len()))
            .collect();
        let result = self.run_layers(steps, &start_lens);
        if result.is_err() {
            for (s, &len) in steps.iter().zip(&start_lens) {
                if let Some(c) = self.rows[s.row.0].as_mut() {
                    c.truncate(len);
                }
            }
        }
        result
    }

    fn run_layers(&mut self, steps: &[RowStep<'_>], start_lens: &[usize]) -> Result<Vec<LogProbs>> {
        let cfg = self.weights.config.clone();
        let (h, kv, hd) = (cfg.hidden, cfg.kv_dim(), cfg.head_dim);
        let total: usize = steps.iter().map(|s| s.tokens.len()).sum();
        let w = &self.weights;
        let threads = &self.threads;
        let sc = &mut self.scratch;

        // Embeddings and rotary tables of every new position.
        sc.x.resize(total * h, 0.0);
        let mut cos = Vec::with_capacity(total * hd / 2);
        let mut sin = Vec::with_capacity(total * hd / 2);
        let (mut c1, mut s1) = (Vec::new(), Vec::new());
        let mut t = 0;
        for (s, &len) in steps.iter().zip(start_lens) {
            for (i, &tok) in s.tokens.iter().enumerate() {
                w.embed.row(tok as usize, &mut sc.x[t * h..(t + 1) * h])?;
                rope_table(len + i, hd, cfg.rope_base, &mut c1, &mut s1);
                cos.extend_from_slice(&c1);
                sin.extend_from_slice(&s1);
                t += 1;
            }
        }
        let half = hd / 2;
        let mut ranges = Vec::with_capacity(steps.len());
        let mut t0 = 0;
        for s in steps {
            ranges.push(t0..t0 + s.tokens.len());
            t0 += s.tokens.len();
        }
        let mixes: Vec<Vec<(usize, f32)>> =
            steps.iter().map(|s| self.mixes[s.row.0].clone()).collect();
        let any_lora = mixes.iter().any(|m| !m.is_empty());
        let adapters = &self.adapters;
        let lora = |l: usize, m: Module, x: &[f32], y: &mut [f32]| {
            if any_lora {
                lora::apply(adapters, &mixes, &ranges, l, m, x, y, m.shape(&cfg));
            }
        };
        let shape = AttentionShape {
            n_head: cfg.n_head,
            n_kv_head: cfg.n_kv_head,
            head_dim: hd,
        };

        for (l, lw) in w.layers.iter().enumerate() {
            ops::rms_norm(&sc.x, &lw.attn_norm, cfg.rms_eps, &mut sc.xn);
            Linear::forward_all(
                &[&lw.wq, &lw.wk, &lw.wv],
                &sc.xn,
                &mut [&mut sc.q, &mut sc.k, &mut sc.v],
                &mut sc.prep,
                threads,
            )?;
            lora(l, Module::Q, &sc.xn, &mut sc.q);
            lora(l, Module::K, &sc.xn, &mut sc.k);
            lora(l, Module::V, &sc.xn, &mut sc.v);
            for t in 0..total {
                let (c, s) = (
                    &cos[t * half..(t + 1) * half],
                    &sin[t * half..(t + 1) * half],
                );
                ops::rope(&mut sc.q[t * h..(t + 1) * h], hd, c, s);
                ops::rope(&mut sc.k[t * kv..(t + 1) * kv], hd, c, s);
            }
            sc.att.resize(total * h, 0.0);
            let mut t0 = 0;
            for (s, &len) in steps.iter().zip(start_lens) {
                let n = s.tokens.len();
                let cache = self.rows[s.row.0].as_mut().expect("validated row");
                cache.append(
                    l,
                    &sc.k[t0 * kv..(t0 + n) * kv],
                    &sc.v[t0 * kv..(t0 + n) * kv],
                );
                attend(
                    &shape,
                    &sc.q[t0 * h..(t0 + n) * h],
                    len,
                    cache.keys(l),
                    cache.values(l),
                    &mut sc.att[t0 * h..(t0 + n) * h],
                    threads,
                );
                t0 += n;
            }
            lw.wo
                .forward(&sc.att, &mut sc.proj, &mut sc.prep, threads)?;
            lora(l, Module::O, &sc.att, &mut sc.proj);
            sc.x.iter_mut().zip(&sc.proj).for_each(|(x, p)| *x += p);

            ops::rms_norm(&sc.x, &lw.ffn_norm, cfg.rms_eps, &mut sc.xn);
            Linear::forward_all(
                &[&lw.w_gate, &lw.w_up],
                &sc.xn,
                &mut [&mut sc.gate, &mut sc.up],
                &mut sc.prep,
                threads,
            )?;
            lora(l, Module::Gate, &sc.xn, &mut sc.gate);
            lora(l, Module::Up, &sc.xn, &mut sc.up);
            ops::swiglu(&mut sc.gate, &sc.up);
            lw.w_down
                .forward(&sc.gate, &mut sc.proj, &mut sc.prep, threads)?;
            lora(l, Module::Down, &sc.gate, &mut sc.proj);
            sc.x.iter_mut().zip(&sc.proj).for_each(|(x, p)| *x += p);
        }
        for (s, &len) in steps.iter().zip(start_lens) {
            self.rows[s.row.0]
                .as_mut()
                .expect("validated row")
                .commit(len + s.tokens.len());
        }

        // Output projection only for the positions someone reads.
        let mut picked = Vec::new();
        let mut t0 = 0;
        for s in steps {
            let n = s.tokens.len();
            picked.extend(s.readout.positions(n).map(|i| t0 + i));
            t0 += n;
        }
        let mut sel = Vec::with_capacity(picked.len() * h);
        for &t in &picked {
            sel.extend_from_slice(&sc.x[t * h..(t + 1) * h]);
        }
        ops::rms_norm(&sel, &w.output_norm, cfg.rms_eps, &mut sc.xn);
        let mut logits = Vec::new();
        w.output()
            .forward(&sc.xn, &mut logits, &mut sc.prep, threads)?;
        for row in logits.chunks_exact_mut(cfg.vocab) {
            log_softmax(row);
        }

        self.counters.forward_calls += 1;
        self.counters.row_evaluations += steps.len() as u64;
        self.counters.positions += total as u64;

        let mut out = Vec::with_capacity(steps.len());
        let mut offset = 0;
        for s in steps {
            let n = s.readout.positions(s.tokens.len()).len();
            let dense = logits[offset * cfg.vocab..(offset + n) * cfg.vocab].to_vec();
            out.push(LogProbs::from_dense(cfg.vocab, s.readout, s.tokens, dense));
            offset += n;
        }
        Ok(out)
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        match self.weights.mode {
            WeightMode::Quantized => format!("cpu ({})", kernels::active().name),
            WeightMode::Int8 => format!("cpu ({} int8)", kernels::active().name),
            WeightMode::Dequantized => "cpu (f32 dequantized)".to_string(),
        }
    }

    fn config(&self) -> &LlamaConfig {
        &self.weights.config
    }

    fn new_row(&mut self) -> Result<RowId> {
        let cfg = &self.weights.config;
        let cache = RowCache::new(cfg.n_layer, cfg.kv_dim());
        Ok(self.insert(cache, Vec::new()))
    }

    fn fork_row(&mut self, src: RowId, len: usize) -> Result<RowId> {
        let cache = self.cache(src)?;
        if len > cache.len() {
            return Err(Error::Backend(format!(
                "cannot fork {len} positions from row {} holding {}",
                src.0,
                cache.len()
            )));
        }
        let copy = cache.prefix(len);
        let mix = self.mixes[src.0].clone();
        Ok(self.insert(copy, mix))
    }

    fn truncate_row(&mut self, row: RowId, len: usize) -> Result<()> {
        self.cache(row)?;
        if let Some(c) = self.rows[row.0].as_mut() {
            c.truncate(len);
        }
        Ok(())
    }

    fn free_row(&mut self, row: RowId) {
        if let Some(slot) = self.rows.get_mut(row.0) {
            *slot = None;
        }
    }

    fn set_row_adapters(&mut self, row: RowId, mix: &[(super::AdapterId, f32)]) -> Result<()> {
        self.cache(row)?;
        if let Some((bad, _)) = mix.iter().find(|(a, _)| a.0 >= self.adapters.len()) {
            return Err(Error::Backend(format!("adapter {} is not loaded", bad.0)));
        }
        if self.rows[row.0].as_ref().is_some_and(|c| c.len() > 0) {
            return Err(Error::Backend(format!(
                "row {} already holds positions; set its adapters before the prompt",
                row.0
            )));
        }
        self.mixes[row.0] = mix.iter().map(|&(a, w)| (a.0, w)).collect();
        Ok(())
    }

    fn row_len(&self, row: RowId) -> Result<usize> {
        Ok(self.cache(row)?.len())
    }

    fn forward(&mut self, steps: &[RowStep<'_>]) -> impl Future<Output = Result<Vec<LogProbs>>> {
        std::future::ready(self.forward_sync(steps))
    }

    fn counters(&self) -> BackendCounters {
        self.counters
    }
}
