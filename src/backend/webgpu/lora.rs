//! LoRA adapters on the GPU, same semantics as the CPU backend's
//! `lora.rs`: each row's mix `Σ_j w_j · scale · B_j (A_j x)` is added on top
//! of the shared base matmul, never merged. An adapter is one f32 buffer
//! holding every delta's A (`[rank, in]`) and B (`[out, rank]`); a call
//! runs one dispatch per (adapter in use, layer, module), whose tasks are
//! the positions of the rows mixing that adapter, with their weights.

use std::collections::HashMap;

use super::device::{Buf, Gpu};
use crate::model::lora::{LoraAdapter, Module};
use crate::{Error, Result};

/// Where one delta lives in its adapter's buffer (in floats).
#[derive(Debug, Clone, Copy)]
pub(super) struct DeltaSlot {
    pub rank: u32,
    pub a_off: u32,
    pub b_off: u32,
    pub scale: f32,
}

pub(super) struct GpuAdapter {
    pub buf: Buf,
    pub slots: HashMap<(usize, Module), DeltaSlot>,
}

/// The largest rank the kernel's workgroup memory holds.
pub(super) const MAX_RANK: usize = 256;

impl GpuAdapter {
    pub(super) fn upload(gpu: &Gpu, adapter: &LoraAdapter) -> Result<Self> {
        let mut data: Vec<f32> = Vec::new();
        let mut slots = HashMap::new();
        let mut keys: Vec<_> = adapter.deltas.keys().copied().collect();
        keys.sort_by_key(|&(l, m)| (l, m as usize));
        for key in keys {
            let d = &adapter.deltas[&key];
            if d.rank == 0 || d.rank > MAX_RANK {
                return Err(Error::InvalidInput(format!(
                    "adapter {}: rank {} is outside 1..={MAX_RANK} (the WebGPU backend's limit)",
                    adapter.name, d.rank
                )));
            }
            let a_off = data.len() as u32;
            data.extend_from_slice(&d.a);
            let b_off = data.len() as u32;
            data.extend_from_slice(&d.b);
            slots.insert(
                key,
                DeltaSlot {
                    rank: d.rank as u32,
                    a_off,
                    b_off,
                    scale: d.scale,
                },
            );
        }
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(Self {
            buf: gpu.storage_init(&format!("lora {}", adapter.name), &bytes)?,
            slots,
        })
    }

    /// Bytes one delta's A and B take.
    pub(super) fn delta_bytes(slot: &DeltaSlot, dims: [usize; 2]) -> u64 {
        (slot.rank as usize * (dims[0] + dims[1]) * 4) as u64
    }
}

/// Per adapter in use: the (position, weight) tasks of one call. A row that
/// lists one adapter twice gets one task with the summed weight (two tasks
/// on one position would race in one dispatch).
pub(super) fn tasks(
    mixes: &[&[(usize, f32)]],
    ranges: &[std::ops::Range<usize>],
) -> Vec<(usize, Vec<(u32, f32)>)> {
    let mut per: Vec<(usize, Vec<(u32, f32)>)> = Vec::new();
    for (mix, range) in mixes.iter().zip(ranges) {
        let mut merged: Vec<(usize, f32)> = Vec::new();
        for &(a, w) in mix.iter() {
            match merged.iter_mut().find(|(b, _)| *b == a) {
                Some(e) => e.1 += w,
                None => merged.push((a, w)),
            }
        }
        for (a, w) in merged {
            let i = match per.iter().position(|(b, _)| *b == a) {
                Some(i) => i,
                None => {
                    per.push((a, Vec::new()));
                    per.len() - 1
                }
            };
            per[i].1.extend(range.clone().map(|t| (t as u32, w)));
        }
    }
    per
}
