//! What a WebGPU forward costs besides the trait's counters: dispatches,
//! queue submissions, bytes read back to the host, bytes uploaded per call
//! (tokens, tables, parameters) and weight bytes the kernels read.

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct GpuCounters {
    /// Compute dispatches.
    pub dispatches: u64,
    /// `queue.submit` calls (forward calls, forks, cache growth).
    pub submissions: u64,
    /// Bytes copied from the GPU to the host (log-probs).
    pub bytes_read_back: u64,
    /// Bytes written from the host per call (token ids, tables, parameters).
    pub bytes_uploaded: u64,
    /// Weight bytes the matmul, embedding and LoRA kernels read (a matrix
    /// counts once per 8-position tile of the call).
    pub weight_bytes_read: u64,
}

impl GpuCounters {
    /// The difference `self - earlier`, field by field.
    pub fn since(self, earlier: GpuCounters) -> GpuCounters {
        GpuCounters {
            dispatches: self.dispatches - earlier.dispatches,
            submissions: self.submissions - earlier.submissions,
            bytes_read_back: self.bytes_read_back - earlier.bytes_read_back,
            bytes_uploaded: self.bytes_uploaded - earlier.bytes_uploaded,
            weight_bytes_read: self.weight_bytes_read - earlier.weight_bytes_read,
        }
    }
}
