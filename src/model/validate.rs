//! Weight data checked at load, as llama.cpp's `ggml_validate_row_data` does:
//! every float value (F32, F16, BF16) and every block's scales (the f16 `d`,
//! `m` / `dmin` / `s` of the quantized types) must be finite. A damaged
//! download (bytes set to 0xFF: NaN scales) then fails with the tensor's name
//! and block instead of "answering" token 0. Cheap: one pass over the scale
//! words (a few ms for the 98 MB model), so the page runs it too.

use candle_core::quantized::GgmlDType;

/// Where the scales of one block lie, and how they are stored.
enum Layout {
    /// Every `width`-byte word is a float (F32: 4, F16 / BF16: 2).
    Floats { width: usize, kind: Float },
    /// Blocks of `size` bytes with floats of `kind` at `offsets`.
    Blocks {
        size: usize,
        kind: Float,
        offsets: &'static [usize],
    },
}

#[derive(Clone, Copy)]
enum Float {
    F32,
    F16,
    Bf16,
}

fn layout(dtype: GgmlDType) -> Layout {
    use Float::*;
    use GgmlDType as T;
    let blocks = |size, kind, offsets| Layout::Blocks {
        size,
        kind,
        offsets,
    };
    match dtype {
        T::F32 => Layout::Floats {
            width: 4,
            kind: F32,
        },
        T::F16 => Layout::Floats {
            width: 2,
            kind: F16,
        },
        T::BF16 => Layout::Floats {
            width: 2,
            kind: Bf16,
        },
        T::Q4_0 => blocks(18, F16, &[0]),
        T::Q4_1 => blocks(20, F16, &[0, 2]),
        T::Q5_0 => blocks(22, F16, &[0]),
        T::Q5_1 => blocks(24, F16, &[0, 2]),
        T::Q8_0 => blocks(34, F16, &[0]),
        T::Q8_1 => blocks(36, F16, &[0, 2]),
        T::Q2K => blocks(84, F16, &[80, 82]),
        T::Q3K => blocks(110, F16, &[108]),
        T::Q4K => blocks(144, F16, &[0, 2]),
        T::Q5K => blocks(176, F16, &[0, 2]),
        T::Q6K => blocks(210, F16, &[208]),
        T::Q8K => blocks(292, F32, &[0]),
    }
}

/// True when the little-endian float at `b` is NaN or infinite (exponent all ones).
fn non_finite(kind: Float, b: &[u8]) -> bool {
    match kind {
        Float::F32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000,
        Float::F16 => u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00,
        Float::Bf16 => u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80,
    }
}

/// The first non-finite value of a tensor: the block (or element) index,
/// and how many blocks (or elements) are bad in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub first: usize,
    pub count: usize,
    /// "block" for the quantized types, "value" for float tensors.
    pub unit: &'static str,
}

/// Checks one tensor's bytes (`data` as stored, a whole number of blocks).
pub fn check_tensor(dtype: GgmlDType, data: &[u8]) -> Option<Damage> {
    let (found, unit) = match layout(dtype) {
        Layout::Floats { width, kind } => (
            scan(data.chunks_exact(width), |w| non_finite(kind, w)),
            "value",
        ),
        Layout::Blocks {
            size,
            kind,
            offsets,
        } => (
            scan(data.chunks_exact(size), |block| {
                offsets.iter().any(|&o| non_finite(kind, &block[o..]))
            }),
            "block",
        ),
    };
    found.map(|(first, count)| Damage { first, count, unit })
}

fn scan<'a>(
    items: impl Iterator<Item = &'a [u8]>,
    bad: impl Fn(&[u8]) -> bool,
) -> Option<(usize, usize)> {
    let mut first = None;
    let mut count = 0;
    for (i, item) in items.enumerate() {
        if bad(item) {
            first.get_or_insert(i);
            count += 1;
        }
    }
    first.map(|f| (f, count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    fn q4_1_blocks(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            out.extend(f16::from_f32(0.01 * i as f32).to_le_bytes());
            out.extend(f16::from_f32(-0.5).to_le_bytes());
            out.extend([0x5a; 16]);
        }
        out
    }

    /// The layouts agree with candle's block sizes for every type it reads.
    #[test]
    fn block_sizes_match_candle() {
        use GgmlDType as T;
        for t in [
            T::F32,
            T::F16,
            T::BF16,
            T::Q4_0,
            T::Q4_1,
            T::Q5_0,
            T::Q5_1,
            T::Q8_0,
            T::Q8_1,
            T::Q2K,
            T::Q3K,
            T::Q4K,
            T::Q5K,
            T::Q6K,
            T::Q8K,
        ] {
            let size = match layout(t) {
                Layout::Floats { width, .. } => width,
                Layout::Blocks { size, .. } => size,
            };
            assert_eq!(size, t.type_size(), "{t:?}");
        }
    }

    #[test]
    fn finite_blocks_pass() {
        assert_eq!(check_tensor(GgmlDType::Q4_1, &q4_1_blocks(8)), None);
        let floats: Vec<u8> = [1.0f32, -2.5, 0.0, f32::MAX]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(check_tensor(GgmlDType::F32, &floats), None);
    }

    #[test]
    fn nan_scale_is_found_with_its_block() {
        let mut data = q4_1_blocks(8);
        // block 5's `m` set to 0xFFFF (NaN), block 6's `d` to +inf.
        data[5 * 20 + 2..5 * 20 + 4].copy_from_slice(&[0xff, 0xff]);
        data[6 * 20..6 * 20 + 2].copy_from_slice(&f16::INFINITY.to_le_bytes());
        let damage = check_tensor(GgmlDType::Q4_1, &data).unwrap();
        assert_eq!(
            damage,
            Damage {
                first: 5,
                count: 2,
                unit: "block"
            }
        );
        // 0xFF in the 4-bit values only is no damage: every nibble is valid.
        let mut quants = q4_1_blocks(2);
        quants[4..20].fill(0xff);
        assert_eq!(check_tensor(GgmlDType::Q4_1, &quants), None);
    }

    #[test]
    fn every_float_kind_is_checked() {
        let f32_nan: Vec<u8> = [1.0f32, f32::NAN]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(check_tensor(GgmlDType::F32, &f32_nan).unwrap().first, 1);
        let f16_inf = [0x00, 0x3c, 0x00, 0xfc]; // 1.0, -inf
        assert_eq!(check_tensor(GgmlDType::F16, &f16_inf).unwrap().first, 1);
        let bf16_nan = [0xc0, 0x7f, 0x80, 0x3f]; // NaN, 1.0
        assert_eq!(check_tensor(GgmlDType::BF16, &bf16_nan).unwrap().first, 0);
        let mut q8 = vec![0u8; 2 * 34];
        q8[34..36].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(check_tensor(GgmlDType::Q8_0, &q8).unwrap().first, 1);
        let mut q6k = vec![0u8; 210];
        q6k[208..210].copy_from_slice(&[0x00, 0x7c]);
        assert_eq!(check_tensor(GgmlDType::Q6K, &q6k).unwrap().first, 0);
    }
}
