//! One call's host-side tables, uploaded once per forward: a `u32` "meta"
//! buffer (`tab` in the shaders: `meta` is reserved in WGSL) holding token
//! ids, per-position (step, position), page tables, rope cos/sin as f32
//! bits, read-out gathers and LoRA tasks; and the parameter slots (one
//! 256-byte uniform slot per dispatch, bound at a dynamic offset).

use super::kernels::PARAM_SLOT;

#[derive(Default)]
pub(super) struct Frame {
    pub meta: Vec<u32>,
    pub params: Vec<u8>,
}

/// A parameter word: u32 as is, f32 by its bits.
#[derive(Clone, Copy)]
pub(super) enum P {
    U(u32),
    F(f32),
}

pub(super) fn u(v: usize) -> P {
    P::U(v as u32)
}

impl Frame {
    pub(super) fn clear(&mut self) {
        self.meta.clear();
        self.params.clear();
    }

    /// Appends words to meta; returns their word offset.
    pub(super) fn section(&mut self, words: impl IntoIterator<Item = u32>) -> u32 {
        let at = self.meta.len() as u32;
        self.meta.extend(words);
        at
    }

    /// Appends a parameter slot; returns its byte offset.
    pub(super) fn param(&mut self, words: &[P]) -> u32 {
        let at = self.params.len();
        for w in words {
            let v = match *w {
                P::U(x) => x,
                P::F(x) => x.to_bits(),
            };
            self.params.extend_from_slice(&v.to_le_bytes());
        }
        self.params.resize(at + PARAM_SLOT as usize, 0);
        at as u32
    }

    pub(super) fn meta_bytes(&self) -> Vec<u8> {
        self.meta.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}
