//! The row-interleaved layout of the quantized matrices, for kernels that
//! take eight weight rows at once (`Kernels::rows8`, issue 13): rows go in
//! groups of eight, and within a group block `b` of all eight rows is
//! stored together, 4 elements of each row at a time, so one 32-byte load
//! holds the same 4 elements of eight rows (what `vpdpbusd` against a
//! broadcast of 4 activation bytes needs). Scales (and Q4_1's minimums)
//! go 8 per block in row order.
//!
//! - Q4_1, 128 bytes per block of 8 rows: chunk `c` (0..4) holds, for row
//!   `i`, GGUF bytes `4c..4c + 4` of its block (low nibbles are elements
//!   `4c..4c + 4`, high nibbles `16 + 4c..16 + 4c + 4`) at `32c + 4i`.
//! - Q8_0, 256 bytes per block of 8 rows: group `g` (0..8) holds elements
//!   `4g..4g + 4` of row `i` at `32g + 4i`, each stored plus 128 as an
//!   unsigned byte (the kernels' unsigned operand).

/// Elements per quantization block.
const BLOCK: usize = 32;

/// Rows per interleaved group.
pub const ROWS: usize = 8;

/// Where row `r`'s block `b` scale (and minimum) sits.
pub fn scale_at(nb: usize, r: usize, b: usize) -> usize {
    ((r / ROWS) * nb + b) * ROWS + r % ROWS
}

/// Where row `r`'s block `b` GGUF byte `j` (elements `j` and `j + 16`) sits.
pub fn q4_1_byte_at(nb: usize, r: usize, b: usize, j: usize) -> usize {
    ((r / ROWS) * nb + b) * 128 + (j / 4) * 32 + (r % ROWS) * 4 + j % 4
}

/// Where row `r`'s block `b` element `e` sits.
pub fn q8_0_at(nb: usize, r: usize, b: usize, e: usize) -> usize {
    ((r / ROWS) * nb + b) * 256 + (e / 4) * 32 + (r % ROWS) * 4 + e % 4
}

/// A stored Q8_0 byte's weight, and a weight's stored byte (the same map).
pub fn q8_0_weight(stored: i8) -> i8 {
    ((stored as u8) ^ 0x80) as i8
}

/// Whether a matrix of `rows` rows can take the layout.
pub fn fits(rows: usize) -> bool {
    rows.is_multiple_of(ROWS)
}

/// Per-block values (scales, minimums) of `rows` rows of `nb` blocks, row
/// after row, in the interleaved order.
pub fn per_block(nb: usize, rows: usize, values: &[f32]) -> Vec<f32> {
    assert!(fits(rows) && values.len() == rows * nb);
    let mut out = vec![0f32; values.len()];
    for r in 0..rows {
        for b in 0..nb {
            out[scale_at(nb, r, b)] = values[r * nb + b];
        }
    }
    out
}

/// Q4_1 nibble bytes (16 per block, row after row), interleaved.
pub fn q4_1_bytes(nb: usize, rows: usize, qs: &[u8]) -> Vec<u8> {
    assert!(fits(rows) && qs.len() == rows * nb * 16);
    let mut out = vec![0u8; qs.len()];
    for r in 0..rows {
        for b in 0..nb {
            for j in 0..16 {
                out[q4_1_byte_at(nb, r, b, j)] = qs[(r * nb + b) * 16 + j];
            }
        }
    }
    out
}

/// Q8_0 weights (32 per block, row after row), interleaved and stored plus 128.
pub fn q8_0_bytes(nb: usize, rows: usize, qs: &[i8]) -> Vec<i8> {
    assert!(fits(rows) && qs.len() == rows * nb * BLOCK);
    let mut out = vec![0i8; qs.len()];
    for r in 0..rows {
        for b in 0..nb {
            for e in 0..BLOCK {
                out[q8_0_at(nb, r, b, e)] = q8_0_weight(qs[(r * nb + b) * BLOCK + e]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_position_is_used_once() {
        let (rows, nb) = (16, 3);
        let mut seen = vec![0u8; rows * nb * 32];
        for r in 0..rows {
            for b in 0..nb {
                for e in 0..32 {
                    seen[q8_0_at(nb, r, b, e)] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
        let mut seen = vec![0u8; rows * nb * 16];
        for r in 0..rows {
            for b in 0..nb {
                for j in 0..16 {
                    seen[q4_1_byte_at(nb, r, b, j)] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
    }
}
