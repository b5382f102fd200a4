//! The WGSL kernels (`shaders/*.wgsl`, included at compile time), their bind
//! group layouts and compute pipelines. Every kernel binds a 256-byte slot
//! of the per-call parameter buffer (dynamic offset) at binding 0, then
//! storage buffers. No kernel needs an optional WebGPU feature, so the
//! sources go to naga (natively) and to the browser alike; `preprocess`
//! prepends the constants the shaders share with the Rust side (the mix
//! kinds, MPG's floor) and is where a capability-dependent prelude (e.g.
//! Chrome's `enable subgroups;`, which naga rejects) would be added.

use super::device::Gpu;

/// Bytes of one parameter slot (WebGPU's minimum uniform offset alignment).
pub(super) const PARAM_SLOT: u64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kernel {
    EmbedQ80,
    EmbedQ41,
    RmsNorm,
    MatmulQ41,
    MatmulQ80,
    MatmulQ41Rows,
    MatmulQ80Rows,
    RopeKv,
    Attention,
    Swiglu,
    Lora,
    LogSoftmax,
    Gather,
    TopK,
    GatherTop,
    Combine,
}

/// A binding after the parameters: read-only or read-write storage.
#[derive(Clone, Copy)]
enum Access {
    Read,
    Write,
}
use Access::{Read, Write};

impl Kernel {
    pub(super) const ALL: [Kernel; 16] = [
        Kernel::EmbedQ80,
        Kernel::EmbedQ41,
        Kernel::RmsNorm,
        Kernel::MatmulQ41,
        Kernel::MatmulQ80,
        Kernel::MatmulQ41Rows,
        Kernel::MatmulQ80Rows,
        Kernel::RopeKv,
        Kernel::Attention,
        Kernel::Swiglu,
        Kernel::Lora,
        Kernel::LogSoftmax,
        Kernel::Gather,
        Kernel::TopK,
        Kernel::GatherTop,
        Kernel::Combine,
    ];

    fn source(self) -> (&'static str, &'static str) {
        match self {
            Kernel::EmbedQ80 => (include_str!("shaders/embed.wgsl"), "q8_0"),
            Kernel::EmbedQ41 => (include_str!("shaders/embed.wgsl"), "q4_1"),
            Kernel::RmsNorm => (include_str!("shaders/rms_norm.wgsl"), "main"),
            Kernel::MatmulQ41 => (include_str!("shaders/matmul.wgsl"), "q4_1"),
            Kernel::MatmulQ80 => (include_str!("shaders/matmul.wgsl"), "q8_0"),
            Kernel::MatmulQ41Rows => (include_str!("shaders/matmul.wgsl"), "q4_1_rows"),
            Kernel::MatmulQ80Rows => (include_str!("shaders/matmul.wgsl"), "q8_0_rows"),
            Kernel::RopeKv => (include_str!("shaders/rope_kv.wgsl"), "main"),
            Kernel::Attention => (include_str!("shaders/attention.wgsl"), "main"),
            Kernel::Swiglu => (include_str!("shaders/swiglu.wgsl"), "main"),
            Kernel::Lora => (include_str!("shaders/lora.wgsl"), "main"),
            Kernel::LogSoftmax => (include_str!("shaders/log_softmax.wgsl"), "main"),
            Kernel::Gather => (include_str!("shaders/sparse_readout.wgsl"), "gather"),
            Kernel::TopK => (include_str!("shaders/sparse_readout.wgsl"), "top_k"),
            Kernel::GatherTop => (include_str!("shaders/sparse_readout.wgsl"), "gather_top"),
            Kernel::Combine => (include_str!("shaders/combine.wgsl"), "main"),
        }
    }

    fn bindings(self) -> &'static [Access] {
        match self {
            Kernel::EmbedQ80 | Kernel::EmbedQ41 => &[Read, Read, Write],
            Kernel::RmsNorm => &[Read, Read, Read, Write],
            Kernel::MatmulQ41
            | Kernel::MatmulQ80
            | Kernel::MatmulQ41Rows
            | Kernel::MatmulQ80Rows => &[Read, Read, Write],
            Kernel::RopeKv => &[Read, Write, Write],
            Kernel::Attention => &[Read, Read, Read, Write],
            Kernel::Swiglu => &[Read, Write],
            Kernel::Lora => &[Read, Read, Read, Write],
            Kernel::LogSoftmax => &[Write],
            Kernel::Gather | Kernel::TopK | Kernel::GatherTop => &[Read, Read, Write],
            Kernel::Combine => &[Write],
        }
    }
}

/// How `shaders/combine.wgsl` combines a mix's rows (its `kind`
/// parameter); the shader names the values `MIX_KIND_*`, declared by
/// [`preprocess`] from these, so the two cannot drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixKind {
    /// MOD's weighted sum.
    Linear = 0,
    /// PDD's reweighting.
    Pdd = 1,
    /// MPG's token-level target.
    Mpg = 2,
}

impl MixKind {
    pub const ALL: [MixKind; 3] = [MixKind::Linear, MixKind::Pdd, MixKind::Mpg];

    /// The WGSL constant naming the kind.
    pub fn wgsl_name(self) -> &'static str {
        match self {
            MixKind::Linear => "MIX_KIND_LINEAR",
            MixKind::Pdd => "MIX_KIND_PDD",
            MixKind::Mpg => "MIX_KIND_MPG",
        }
    }
}

/// The `const` declarations the shaders share with the Rust side: the mix
/// kinds and MPG's floor (`backend::MPG_FLOOR`).
pub fn wgsl_constants() -> Vec<(&'static str, String)> {
    let mut c: Vec<(&'static str, String)> = MixKind::ALL
        .iter()
        .map(|&k| (k.wgsl_name(), format!("u32 = {}u", k as u32)))
        .collect();
    c.push((
        "MPG_FLOOR",
        format!("f32 = {:?}", crate::backend::MPG_FLOOR as f32),
    ));
    c
}

/// The shader text handed to the compiler: the source with a `const`
/// declaration prepended for each shared constant it names
/// ([`wgsl_constants`]). Sources are portable WGSL without `enable`
/// directives; a capability-dependent prelude would go here too.
pub fn preprocess(src: &str) -> std::borrow::Cow<'_, str> {
    let used: Vec<String> = wgsl_constants()
        .into_iter()
        .filter(|(name, _)| src.contains(name))
        .map(|(name, value)| format!("const {name}: {value};\n"))
        .collect();
    if used.is_empty() {
        std::borrow::Cow::Borrowed(src)
    } else {
        std::borrow::Cow::Owned(used.concat() + src)
    }
}

/// How the quantized matmuls spread over invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulKernel {
    /// 32 invocations per output row striding over its blocks, partial sums
    /// met in workgroup memory: coalesced weight reads for real GPUs.
    Lanes,
    /// One invocation per output row, no workgroup memory: what software
    /// adapters (lavapipe, SwiftShader) run fastest.
    Rows,
}

pub(super) struct Pipelines {
    layouts: Vec<wgpu::BindGroupLayout>,
    pipelines: Vec<wgpu::ComputePipeline>,
}

impl Pipelines {
    pub(super) fn new(gpu: &Gpu) -> Self {
        let mut layouts = Vec::new();
        let mut pipelines = Vec::new();
        let mut modules: Vec<(&'static str, wgpu::ShaderModule)> = Vec::new();
        for k in Kernel::ALL {
            let (src, entry) = k.source();
            let module = match modules.iter().find(|(s, _)| std::ptr::eq(*s, src)) {
                Some((_, m)) => m.clone(),
                None => {
                    let m = gpu
                        .device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(entry),
                            source: wgpu::ShaderSource::Wgsl(preprocess(src)),
                        });
                    modules.push((src, m.clone()));
                    m
                }
            };
            let mut entries = vec![wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: None,
                },
                count: None,
            }];
            for (i, a) in k.bindings().iter().enumerate() {
                entries.push(wgpu::BindGroupLayoutEntry {
                    binding: i as u32 + 1,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: matches!(a, Read),
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                });
            }
            let layout = gpu
                .device
                .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(entry),
                    entries: &entries,
                });
            let pl = gpu
                .device
                .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(entry),
                    bind_group_layouts: &[Some(&layout)],
                    immediate_size: 0,
                });
            let pipeline = gpu
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(entry),
                    layout: Some(&pl),
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                });
            layouts.push(layout);
            pipelines.push(pipeline);
        }
        Self { layouts, pipelines }
    }

    fn index(k: Kernel) -> usize {
        Kernel::ALL.iter().position(|&x| x == k).expect("listed")
    }

    pub(super) fn layout(&self, k: Kernel) -> &wgpu::BindGroupLayout {
        &self.layouts[Self::index(k)]
    }

    pub(super) fn pipeline(&self, k: Kernel) -> &wgpu::ComputePipeline {
        &self.pipelines[Self::index(k)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_combine_shader_sees_the_rust_mix_kinds_and_floor() {
        let src = include_str!("shaders/combine.wgsl");
        let wgsl = preprocess(src);
        for k in MixKind::ALL {
            let decl = format!("const {}: u32 = {}u;", k.wgsl_name(), k as u32);
            assert!(wgsl.starts_with("const ") && wgsl.contains(&decl), "{decl}");
            let used = format!("p.kind == {}", k.wgsl_name());
            assert!(src.contains(&used), "combine.wgsl does not test {used}");
        }
        let floor = format!(
            "const MPG_FLOOR: f32 = {:?};",
            crate::backend::MPG_FLOOR as f32
        );
        assert!(wgsl.contains(&floor), "{floor}");
        // The shader defines none of them itself and tests no bare kind numbers.
        assert!(!src.contains("const MIX_KIND") && !src.contains("const MPG_FLOOR"));
        assert!(!(0..10).any(|n| src.contains(&format!("p.kind == {n}u"))));
        // Shaders that name no shared constant go to the compiler unchanged.
        let plain = include_str!("shaders/swiglu.wgsl");
        assert!(matches!(preprocess(plain), std::borrow::Cow::Borrowed(_)));
    }
}
