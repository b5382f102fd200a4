//! The rows' KV caches on the GPU: one pool buffer per layer, cut into pages
//! of `PAGE` positions (`[K: PAGE × kv_dim][V: PAGE × kv_dim]`); each row
//! owns a list of pages. Truncate returns pages to the free list (no GPU
//! work); fork copies the source's pages into new ones with
//! `copy_buffer_to_buffer` (through a scratch buffer); a full pool doubles (copying every layer).

use super::device::{Buf, Gpu};
use crate::{Error, Result};

/// Positions per page (the attention kernel reads one page per chunk of 64 keys).
pub(super) const PAGE: usize = 64;

/// One row: its cached length and pages.
#[derive(Debug, Clone, Default)]
pub(super) struct RowPages {
    pub len: usize,
    pub pages: Vec<u32>,
}

impl RowPages {
    pub(super) fn pages_for(len: usize) -> usize {
        len.div_ceil(PAGE)
    }
}

pub(super) struct KvPool {
    pub layers: Vec<Buf>,
    kv_dim: usize,
    capacity: usize,
    free: Vec<u32>,
}

impl KvPool {
    pub(super) fn new(gpu: &Gpu, n_layer: usize, kv_dim: usize, pages: usize) -> Self {
        let mut pool = Self {
            layers: Vec::new(),
            kv_dim,
            capacity: pages,
            free: (0..pages as u32).rev().collect(),
        };
        pool.layers = (0..n_layer)
            .map(|_| gpu.storage("kv pool", pool.page_bytes() * pages as u64))
            .collect();
        pool
    }

    pub(super) fn page_bytes(&self) -> u64 {
        (2 * PAGE * self.kv_dim * 4) as u64
    }

    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Takes `n` pages, growing the pool first if needed; returns whether
    /// the pool's buffers were replaced (a submission was made).
    pub(super) fn take(&mut self, gpu: &Gpu, n: usize, out: &mut Vec<u32>) -> Result<bool> {
        let mut grew = false;
        if self.free.len() < n {
            let want = (self.capacity - self.free.len() + n).max(2 * self.capacity);
            self.grow(gpu, want)?;
            grew = true;
        }
        for _ in 0..n {
            out.push(self.free.pop().expect("grown to fit"));
        }
        Ok(grew)
    }

    pub(super) fn give_back(&mut self, pages: impl IntoIterator<Item = u32>) {
        self.free.extend(pages);
    }

    fn grow(&mut self, gpu: &Gpu, pages: usize) -> Result<()> {
        let max = gpu.limits.max_storage_buffer_binding_size;
        let pages = pages.min((max / self.page_bytes()) as usize);
        if pages <= self.capacity {
            return Err(Error::Backend(format!(
                "webgpu: the KV cache pool is full ({} positions per layer fit in one {} MiB binding); free some rows",
                self.capacity * PAGE,
                max >> 20
            )));
        }
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("kv grow"),
            });
        let page_bytes = self.page_bytes();
        let old_bytes = page_bytes * self.capacity as u64;
        for buf in &mut self.layers {
            let bigger = gpu.storage("kv pool", page_bytes * pages as u64);
            enc.copy_buffer_to_buffer(&buf.buffer, 0, &bigger.buffer, 0, old_bytes);
            *buf = bigger;
        }
        gpu.queue.submit([enc.finish()]);
        self.free.extend((self.capacity as u32..pages as u32).rev());
        self.capacity = pages;
        Ok(())
    }

    /// Records copies of the `src` pages into the `dst` pages of every
    /// layer, through `scratch` (WebGPU forbids copies within one buffer).
    pub(super) fn copy_pages(
        &self,
        enc: &mut wgpu::CommandEncoder,
        scratch: &wgpu::Buffer,
        src: &[u32],
        dst: &[u32],
    ) {
        let pb = self.page_bytes();
        for buf in &self.layers {
            for (i, &s) in src.iter().enumerate() {
                enc.copy_buffer_to_buffer(&buf.buffer, s as u64 * pb, scratch, i as u64 * pb, pb);
            }
            for (i, &d) in dst.iter().enumerate() {
                enc.copy_buffer_to_buffer(scratch, i as u64 * pb, &buf.buffer, d as u64 * pb, pb);
            }
        }
    }
}
