//! A walk over a GGUF header's metadata before candle's reader sees it, for
//! the one value that reader cannot survive: `general.alignment` of 0 (it
//! divides by it). Like llama.cpp, an alignment must be a power of two.
//! Anything else malformed is left to candle's reader, which reports it.

/// How far the walk goes into nested arrays (candle stops at 64 too).
const MAX_DEPTH: usize = 64;

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    /// GGUF v1 writes lengths as u32, later versions as u64.
    wide: bool,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len(&mut self) -> Option<u64> {
        if self.wide {
            let b = self.take(8)?;
            Some(u64::from_le_bytes(b.try_into().ok()?))
        } else {
            self.u32().map(u64::from)
        }
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }

    /// Skips one value of GGUF type `ty`; returns it when it is a small integer.
    fn value(&mut self, ty: u32, depth: usize) -> Option<Option<i64>> {
        let fixed = |c: &mut Self, n: u64| c.take(n).map(|b| int(ty, b));
        match ty {
            0 | 1 | 7 => fixed(self, 1),
            2 | 3 => fixed(self, 2),
            4..=6 => fixed(self, 4),
            10..=12 => fixed(self, 8),
            8 => self.string().map(|_| None),
            9 if depth <= MAX_DEPTH => {
                let elem = self.u32()?;
                let n = self.len()?;
                match elem {
                    0 | 1 | 7 => self.take(n).map(|_| None),
                    2 | 3 => self.take(n.checked_mul(2)?).map(|_| None),
                    4..=6 => self.take(n.checked_mul(4)?).map(|_| None),
                    10..=12 => self.take(n.checked_mul(8)?).map(|_| None),
                    _ => {
                        // Strings and arrays: each takes at least one byte, so
                        // a count beyond the remaining bytes ends the walk at once.
                        if n > (self.bytes.len() - self.at) as u64 {
                            return None;
                        }
                        for _ in 0..n {
                            self.value(elem, depth + 1)?;
                        }
                        Some(None)
                    }
                }
            }
            _ => None,
        }
    }
}

/// The integer candle would read as an alignment (u8, i8, u16, i16, u32, i32).
fn int(ty: u32, b: &[u8]) -> Option<i64> {
    match ty {
        0 => Some(b[0] as i64),
        1 => Some(b[0] as i8 as i64),
        2 => Some(u16::from_le_bytes([b[0], b[1]]) as i64),
        3 => Some(i16::from_le_bytes([b[0], b[1]]) as i64),
        4 => Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
        5 => Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
        _ => None,
    }
}

/// An error message when the header sets an alignment candle's reader
/// would use and that is not a power of two; `None` otherwise.
pub(super) fn bad_alignment(bytes: &[u8]) -> Option<String> {
    let version = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let mut c = Cursor {
        bytes,
        at: 8,
        wide: version >= 2,
    };
    let _tensors = c.len()?;
    let entries = c.len()?;
    // candle keeps the last of repeated keys
    let mut alignment = None;
    for _ in 0..entries {
        let entry = (|| {
            // candle drops a key's trailing NULs ("general.alignment\0" counts)
            let mut key = c.string()?;
            while let [rest @ .., 0] = key {
                key = rest;
            }
            let ty = c.u32()?;
            Some((key, c.value(ty, 0)?))
        })();
        match entry {
            Some((b"general.alignment", value)) => alignment = Some(value),
            Some(_) => {}
            // the rest is malformed: candle's reader will say so
            None => break,
        }
    }
    match alignment? {
        // candle reads a negative signed alignment as "use the default".
        Some(a) if a >= 0 && !(a as u64).is_power_of_two() => Some(format!(
            "the GGUF header sets general.alignment to {a}, which is not a power of two; the file is corrupt: fetch it again"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &str, ty: u32, value: &[u8]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        // a string array first, so the walk has to skip it
        b.extend(9u64.to_le_bytes());
        b.extend(b"some.list");
        b.extend(9u32.to_le_bytes());
        b.extend(8u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        for s in ["a", "bc"] {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        }
        b.extend((key.len() as u64).to_le_bytes());
        b.extend(key.as_bytes());
        b.extend(ty.to_le_bytes());
        b.extend(value);
        b
    }

    #[test]
    fn zero_or_odd_alignment_is_refused() {
        let zero = header("general.alignment", 4, &0u32.to_le_bytes());
        assert!(bad_alignment(&zero).unwrap().contains("not a power of two"));
        let odd = header("general.alignment", 0, &[3]);
        assert!(bad_alignment(&odd).is_some());
        // candle reads the default for a negative or u64 alignment: nothing to refuse.
        assert_eq!(
            bad_alignment(&header("general.alignment", 5, &(-1i32).to_le_bytes())),
            None
        );
        assert_eq!(
            bad_alignment(&header("general.alignment", 10, &0u64.to_le_bytes())),
            None
        );
        assert_eq!(
            bad_alignment(&header("general.alignment", 4, &32u32.to_le_bytes())),
            None
        );
        // found by tests/fuzz_smoke.rs: candle strips the key's trailing NULs
        let padded = header("general.alignment\0\0\0\0", 0, &[0]);
        assert!(bad_alignment(&padded).is_some());
        // truncated: left to candle's reader
        assert_eq!(bad_alignment(&zero[..zero.len() - 2]), None);
    }
}
