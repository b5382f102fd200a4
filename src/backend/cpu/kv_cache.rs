//! One row's KV cache: per layer, the keys and values of every cached
//! position (`[position][kv_head][head_dim]`), with truncate and fork.

#[derive(Clone)]
pub(super) struct RowCache {
    len: usize,
    kv_dim: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
}

impl RowCache {
    pub(super) fn new(n_layer: usize, kv_dim: usize) -> Self {
        Self {
            len: 0,
            kv_dim,
            keys: vec![Vec::new(); n_layer],
            values: vec![Vec::new(); n_layer],
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Appends the keys and values of new positions to one layer.
    pub(super) fn append(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        self.keys[layer].extend_from_slice(k);
        self.values[layer].extend_from_slice(v);
    }

    /// Marks the appended positions as cached (after every layer got them).
    pub(super) fn commit(&mut self, new_len: usize) {
        debug_assert!(self.keys.iter().all(|k| k.len() == new_len * self.kv_dim));
        self.len = new_len;
    }

    pub(super) fn keys(&self, layer: usize) -> &[f32] {
        &self.keys[layer]
    }

    pub(super) fn values(&self, layer: usize) -> &[f32] {
        &self.values[layer]
    }

    pub(super) fn truncate(&mut self, len: usize) {
        let len = len.min(self.len);
        for buf in self.keys.iter_mut().chain(self.values.iter_mut()) {
            buf.truncate(len * self.kv_dim);
        }
        self.len = len;
    }

    /// A copy of the first `len` positions.
    pub(super) fn prefix(&self, len: usize) -> Self {
        let mut copy = Self::new(self.keys.len(), self.kv_dim);
        let len = len.min(self.len);
        for l in 0..self.keys.len() {
            copy.append(
                l,
                &self.keys[l][..len * self.kv_dim],
                &self.values[l][..len * self.kv_dim],
            );
        }
        copy.len = len;
        copy
    }
}
