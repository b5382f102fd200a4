//! The GGUF container: candle's reader for the header, metadata and tensor
//! table, plus the checks that turn a truncated, corrupt or foreign file into
//! a clear error before any tensor is used: header values candle's reader
//! cannot take (`gguf_scan`), sizes and offsets in bounds (checked
//! arithmetic), and weight data free of NaN / infinite scales (`validate`).

use std::io::Cursor;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};
use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType};
use candle_core::Device;

use crate::{Error, Result};

/// A GGUF file held in memory (the browser has it as bytes anyway).
pub struct GgufFile {
    content: Content,
    bytes: Arc<Vec<u8>>,
}

/// One tensor's raw bytes as stored in the file, with candle's dimension order
/// (rows first: a linear layer's weight is `[out_features, in_features]`).
pub struct RawTensor<'a> {
    pub dtype: GgmlDType,
    pub dims: Vec<usize>,
    pub data: &'a [u8],
}

impl GgufFile {
    /// Reads a model file from disk.
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Self::read_error(path, e))?;
        Self::from_bytes(bytes)
    }

    /// The error for a model file that cannot be read, with what to do.
    pub fn read_error(path: &std::path::Path, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::ModelFile(format!(
                "no file at {}; run `scripts/setup.sh model` to fetch SmolLM2-135M-Instruct, or pass --model PATH",
                path.display()
            ))
        } else {
            Error::ModelFile(format!("{}: {e}", path.display()))
        }
    }

    /// Parses a model held in memory; checks that every tensor lies inside the file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < 4 || &bytes[..4] != b"GGUF" {
            let head: String = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(Error::ModelFile(format!(
                "not a GGUF file ({} bytes, starts with 0x{head}); the playground needs a llama GGUF such as SmolLM2-135M-Instruct.Q4_1.gguf",
                bytes.len()
            )));
        }
        if let Some(message) = super::gguf_scan::bad_alignment(&bytes) {
            return Err(Error::ModelFile(message));
        }
        let content = Content::read(&mut Cursor::new(&bytes)).map_err(|e| {
            Error::ModelFile(format!(
                "the GGUF header is corrupt or truncated ({e}); fetch the file again"
            ))
        })?;
        let mut spans = Vec::with_capacity(content.tensor_infos.len());
        for (name, info) in &content.tensor_infos {
            let (start, size) = Self::span(&content, name, info, bytes.len())?;
            spans.push((start, size, name.as_str(), info.ggml_dtype));
        }
        // The damage the file's first broken tensor holds, in file order.
        spans.sort_unstable_by_key(|&(start, ..)| start);
        for (start, size, name, dtype) in spans {
            if let Some(d) = super::validate::check_tensor(dtype, &bytes[start..start + size]) {
                return Err(Error::ModelFile(format!(
                    "the file is corrupt: tensor {name} ({dtype:?}) holds NaN or infinite numbers in {} {}{}, the first at {} {} (byte {} of the file); download the model again (`scripts/setup.sh model`, or reload the page without its cache)",
                    d.count,
                    d.unit,
                    if d.count == 1 { "" } else { "s" },
                    d.unit,
                    d.first,
                    start + d.first * dtype.type_size(),
                )));
            }
        }
        Ok(Self {
            content,
            bytes: Arc::new(bytes),
        })
    }

    /// Where tensor `name`'s data lies: (start, size) in bytes, checked to
    /// be a whole number of blocks inside a file of `file_len` bytes, with
    /// no arithmetic overflow whatever the table claims.
    fn span(
        content: &Content,
        name: &str,
        info: &TensorInfo,
        file_len: usize,
    ) -> Result<(usize, usize)> {
        let dims = info.shape.dims();
        let n = dims
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                Error::ModelFile(format!(
                    "tensor {name} claims the shape {dims:?}, more elements than any file holds; the file is corrupt: fetch it again"
                ))
            })?;
        let bs = info.ggml_dtype.block_size();
        if !n.is_multiple_of(bs) {
            return Err(Error::ModelFile(format!(
                "tensor {name} has {n} elements, not a multiple of its block size {bs}"
            )));
        }
        let size = (n / bs).checked_mul(info.ggml_dtype.type_size());
        let end = size.and_then(|size| {
            content
                .tensor_data_offset
                .checked_add(info.offset)?
                .checked_add(size as u64)
        });
        match (size, end) {
            (Some(size), Some(end)) if end <= file_len as u64 => Ok(((end as usize) - size, size)),
            _ => Err(Error::ModelFile(format!(
                "the file is truncated or corrupt: tensor {name} ({dims:?}, {:?}) at offset {} ends past the file's {file_len} bytes; fetch it again",
                info.ggml_dtype, info.offset
            ))),
        }
    }

    pub fn len_bytes(&self) -> usize {
        self.bytes.len()
    }

    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn required(&self, key: &str) -> Result<&Value> {
        self.metadata(key)
            .ok_or_else(|| Error::UnsupportedModel(format!("metadata key {key} is missing")))
    }

    pub fn get_str(&self, key: &str) -> Result<&str> {
        match self.required(key)? {
            Value::String(s) => Ok(s),
            v => Err(Error::UnsupportedModel(format!(
                "{key} should be a string, found {v:?}"
            ))),
        }
    }

    pub fn get_usize(&self, key: &str) -> Result<usize> {
        let v = self.required(key)?;
        v.to_u64()
            .map(|x| x as usize)
            .or_else(|_| v.to_u32().map(|x| x as usize))
            .or_else(|_| v.to_i32().map(|x| x.max(0) as usize))
            .map_err(|_| {
                Error::UnsupportedModel(format!("{key} should be an integer, found {v:?}"))
            })
    }

    pub fn get_f32(&self, key: &str) -> Result<f32> {
        let v = self.required(key)?;
        v.to_f32()
            .or_else(|_| v.to_f64().map(|x| x as f32))
            .map_err(|_| Error::UnsupportedModel(format!("{key} should be a float, found {v:?}")))
    }

    pub fn get_array(&self, key: &str) -> Result<&Vec<Value>> {
        self.required(key)?
            .to_vec()
            .map_err(|_| Error::UnsupportedModel(format!("{key} should be an array")))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The bytes of one tensor, exactly as stored.
    pub fn raw(&self, name: &str) -> Result<RawTensor<'_>> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| Error::UnsupportedModel(format!("tensor {name} is missing")))?;
        let (start, size) = Self::span(&self.content, name, info, self.bytes.len())?;
        Ok(RawTensor {
            dtype: info.ggml_dtype,
            dims: info.shape.dims().to_vec(),
            data: &self.bytes[start..start + size],
        })
    }

    /// One tensor dequantized to f32 by candle (row-major, candle's dimension order).
    pub fn dequantize(&self, name: &str) -> Result<Vec<f32>> {
        let raw = self.raw(name)?;
        let data = aligned(raw.data);
        if !is_aligned(&data) {
            return Err(Error::Backend(format!(
                "tensor {name}: no {BLOCK_ALIGN}-byte aligned buffer for its data"
            )));
        }
        let q = qtensor_from_ggml(raw.dtype, &data, raw.dims.clone(), &Device::Cpu)
            .map_err(|e| Error::UnsupportedModel(format!("tensor {name}: {e}")))?;
        q.dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| Error::UnsupportedModel(format!("tensor {name}: {e}")))
    }
}

/// The alignment candle's reader needs: it views the bytes as blocks
/// (`slice::from_raw_parts`), whose fields are up to 4-byte floats.
const BLOCK_ALIGN: usize = 8;

fn is_aligned(data: &[u8]) -> bool {
    (data.as_ptr() as usize).is_multiple_of(BLOCK_ALIGN)
}

/// `data`, or a copy of it when the file puts a tensor at an offset that is
/// not aligned (a crafted GGUF may; viewing it in place would be undefined
/// behaviour inside candle). The allocator aligns a fresh buffer to 8 bytes
/// or more (16 on glibc and in wasm); the caller checks that it did.
fn aligned(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if is_aligned(data) {
        std::borrow::Cow::Borrowed(data)
    } else {
        std::borrow::Cow::Owned(data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/corpus/gguf/regress_misaligned_tensor.gguf`):
    /// a tensor at an odd offset reached candle's `from_raw_parts` misaligned.
    #[test]
    fn misaligned_tensor_data_is_copied_before_candle_sees_it() {
        let bytes = [7u8; 40];
        let buffer = aligned(&bytes).into_owned();
        for offset in 0..8 {
            let slice = &buffer[offset..offset + 16];
            let data = aligned(slice);
            assert!(is_aligned(&data), "offset {offset}");
            assert_eq!(&data[..], slice);
        }
    }
}
