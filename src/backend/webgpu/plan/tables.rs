//! A call's host tables in the frame's meta words: token ids, (step,
//! position) per token, each step's page table, rope cos/sin per token, and
//! the LoRA tasks of each adapter in use.

use super::super::lora;
use super::super::WebGpuBackend;
use crate::backend::rope::rope_table;
use crate::backend::RowStep;

/// Where a call's tables start in the meta words.
pub(in crate::backend::webgpu) struct Tables {
    pub tok_off: u32,
    pub info_off: u32,
    pub steps_off: u32,
    pub rope_off: u32,
    /// (adapter, meta offset of its tasks, task count) per adapter in use.
    pub lora_tasks: Vec<(usize, u32, usize)>,
}

impl WebGpuBackend {
    /// Writes the call's tables into the (cleared) frame.
    pub(super) fn tables(&mut self, steps: &[RowStep<'_>], total: usize) -> Tables {
        let hd = self.config.head_dim;
        let fr = &mut self.frame;
        let len = |s: &RowStep<'_>| self.rows[s.row.0].as_ref().expect("validated").len;

        // Tokens, (step, position) per token, page tables, rope tables.
        let tok_off = fr.section(steps.iter().flat_map(|s| s.tokens.iter().copied()));
        let mut info = Vec::with_capacity(2 * total);
        for (si, s) in steps.iter().enumerate() {
            let len = len(s);
            for i in 0..s.tokens.len() {
                info.extend([si as u32, (len + i) as u32]);
            }
        }
        let info_off = fr.section(info);
        let steps_off = fr.section(std::iter::repeat_n(0, steps.len()));
        for (si, s) in steps.iter().enumerate() {
            let pages = &self.rows[s.row.0].as_ref().expect("validated").pages;
            let at = fr.section(pages.iter().copied());
            fr.meta[steps_off as usize + si] = at;
        }
        let mut rope = Vec::with_capacity(total * hd);
        let (mut c, mut sn) = (Vec::new(), Vec::new());
        for s in steps {
            let len = len(s);
            for i in 0..s.tokens.len() {
                rope_table(len + i, hd, self.config.rope_base, &mut c, &mut sn);
                rope.extend(c.iter().chain(&sn).map(|v| v.to_bits()));
            }
        }
        let rope_off = fr.section(rope);

        // LoRA tasks per adapter in use.
        let mut ranges = Vec::with_capacity(steps.len());
        let mut t0 = 0;
        for s in steps {
            ranges.push(t0..t0 + s.tokens.len());
            t0 += s.tokens.len();
        }
        let mixes: Vec<&[(usize, f32)]> = steps
            .iter()
            .map(|s| self.mixes[s.row.0].as_slice())
            .collect();
        let lora_tasks = lora::tasks(&mixes, &ranges)
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(a, t)| {
                let n = t.len();
                let off = fr.section(t.into_iter().flat_map(|(p, w)| [p, w.to_bits()]));
                (a, off, n)
            })
            .collect();
        Tables {
            tok_off,
            info_off,
            steps_off,
            rope_off,
            lora_tasks,
        }
    }
}
