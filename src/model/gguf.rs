//! The GGUF container: candle's reader for the header, metadata and tensor
//! table, plus the checks that turn a truncated, corrupt or foreign file into
//! a clear error before any tensor is touched.

use std::io::Cursor;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, Value};
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
        let content = Content::read(&mut Cursor::new(&bytes)).map_err(|e| {
            Error::ModelFile(format!(
                "the GGUF header is corrupt or truncated ({e}); fetch the file again"
            ))
        })?;
        for (name, info) in &content.tensor_infos {
            let n = info.shape.elem_count();
            let bs = info.ggml_dtype.block_size();
            if !n.is_multiple_of(bs) {
                return Err(Error::ModelFile(format!(
                    "tensor {name} has {n} elements, not a multiple of its block size {bs}"
                )));
            }
            let size = (n / bs * info.ggml_dtype.type_size()) as u64;
            let end = content.tensor_data_offset + info.offset + size;
            if end > bytes.len() as u64 {
                return Err(Error::ModelFile(format!(
                    "the file is truncated: tensor {name} ends at byte {end} but the file has {} bytes; fetch it again",
                    bytes.len()
                )));
            }
        }
        Ok(Self {
            content,
            bytes: Arc::new(bytes),
        })
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
        let n = info.shape.elem_count();
        let size = n / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
        let start = (self.content.tensor_data_offset + info.offset) as usize;
        Ok(RawTensor {
            dtype: info.ggml_dtype,
            dims: info.shape.dims().to_vec(),
            data: &self.bytes[start..start + size],
        })
    }

    /// One tensor dequantized to f32 by candle (row-major, candle's dimension order).
    pub fn dequantize(&self, name: &str) -> Result<Vec<f32>> {
        let raw = self.raw(name)?;
        let q = qtensor_from_ggml(raw.dtype, raw.data, raw.dims.clone(), &Device::Cpu)
            .map_err(|e| Error::UnsupportedModel(format!("tensor {name}: {e}")))?;
        q.dequantize(&Device::Cpu)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| Error::UnsupportedModel(format!("tensor {name}: {e}")))
    }
}
