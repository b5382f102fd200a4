//! Which CPU kernel family the model worker runs (`?kernels=`): the integer
//! dots over 8-bit activations (the default: fastest, llama.cpp's scheme) or
//! the exact f32 kernels (the dequantized model's math, as WebGPU computes
//! it). See `backend::cpu::kernels` and docs/BENCHMARKS.md.

use serde::{Deserialize, Serialize};

use crate::backend::cpu::WeightMode;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KernelChoice {
    #[default]
    Int8,
    Exact,
}

impl KernelChoice {
    /// The CPU backend's weight mode for this family.
    pub(crate) fn weight_mode(self) -> WeightMode {
        match self {
            Self::Int8 => WeightMode::Int8,
            Self::Exact => WeightMode::Quantized,
        }
    }
}

impl std::str::FromStr for KernelChoice {
    type Err = String;

    /// The `?kernels=` value: `int8` or `exact` (any case).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "int8" => Ok(Self::Int8),
            "exact" => Ok(Self::Exact),
            other => Err(format!(
                "?kernels={} is not a kernel family; use ?kernels=int8 (fast, 8-bit activations) or ?kernels=exact (f32 activations). Using int8.",
                other.chars().take(20).collect::<String>()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_parameter_names_a_family_or_says_what_to_write() {
        assert_eq!(" INT8".parse::<KernelChoice>(), Ok(KernelChoice::Int8));
        assert_eq!("exact".parse::<KernelChoice>(), Ok(KernelChoice::Exact));
        let err = "fast".parse::<KernelChoice>().unwrap_err();
        assert!(
            err.contains("?kernels=fast") && err.contains("?kernels=exact"),
            "{err}"
        );
        assert_eq!(KernelChoice::default().weight_mode(), WeightMode::Int8);
        assert_eq!(KernelChoice::Exact.weight_mode(), WeightMode::Quantized);
        // A load command from an older page (no `kernels`) gets the default.
        let json = serde_json::to_string(&KernelChoice::Exact).unwrap();
        assert_eq!(json, "\"exact\"");
    }
}
