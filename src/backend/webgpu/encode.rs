//! Encoding a call: the buffers a dispatch names ([`B`], resolved to the
//! backend's buffers here), the dispatch list's ops ([`Op`]: compute
//! dispatches and copies into staging), their bind groups (cached per
//! kernel and buffers), and the command buffer of one forward (compute
//! passes between the copies).

use super::device::Buf;
use super::kernels::{Kernel, PARAM_SLOT};
use super::WebGpuBackend;

/// A buffer a dispatch binds, resolved when the call is encoded.
#[derive(Debug, Clone, Copy)]
pub(super) enum B {
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

pub(super) enum Op {
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

impl WebGpuBackend {
    pub(super) fn buf(&self, b: B) -> &Buf {
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

    /// The command buffer that runs `ops` (not yet submitted).
    pub(super) fn encode(&mut self, ops: &[Op]) -> wgpu::CommandBuffer {
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
        enc.finish()
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
}
