//! Test-only: the exact output distribution of SCR (MPG paper Algorithm 1
//! as docs/ALGORITHMS.md states it: whole chunk, prefix salvage with fresh
//! uniforms, RS-1 fallback or the exact preset's re-proposal, the bound in
//! force and its online update) on a tabular model, by enumerating every
//! chunk the proposal can draw. Written from the formulas, not from
//! `scr.rs`: the chi-square tests compare the sampler's draws with it.

use std::collections::HashMap;

use super::bound::Bound;
use super::config::Target;
use super::tabular::Table;

pub struct ScrSpec<'a> {
    pub table: &'a Table,
    pub vocab: usize,
    pub alpha: Vec<f64>,
    pub k: usize,
    pub max_tokens: usize,
    pub salvage: bool,
    /// Proposal temperature and top-p.
    pub temperature: f64,
    pub top_p: f64,
    pub target: Target,
    /// A rejected chunk is proposed again (the exact preset) instead of RS-1.
    pub retry: bool,
}

impl ScrSpec<'_> {
    fn p(&self, view: usize, seq: &[u32], tok: u32) -> f64 {
        // The sampler sees f32 log-probs; so does the spec.
        ((self.table)(view, seq)[tok as usize].ln() as f32) as f64
    }

    /// The proposal: the reference tempered, cut to its top-p nucleus
    /// (most likely first, lower id on ties), renormalised.
    pub fn q(&self, seq: &[u32]) -> Vec<f64> {
        let lp: Vec<f64> = (0..self.vocab as u32).map(|t| self.p(0, seq, t)).collect();
        let best = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = lp
            .iter()
            .map(|l| ((l - best) / self.temperature).exp())
            .collect();
        let total: f64 = w.iter().sum();
        let mut order: Vec<usize> = (0..self.vocab).collect();
        order.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
        let mut q = vec![0.0; self.vocab];
        let mut kept = 0.0;
        for &t in &order {
            q[t] = w[t];
            kept += w[t];
            if kept >= self.top_p * total {
                break;
            }
        }
        q.iter().map(|x| x / kept).collect()
    }

    /// `S(j)` for every prefix of `chunk` after `prefix`.
    pub fn scores(&self, prefix: &[u32], chunk: &[u32]) -> Vec<f64> {
        let mut seq = prefix.to_vec();
        let mut log_r = vec![0f64; self.alpha.len()];
        let mut correction = 0.0;
        chunk
            .iter()
            .map(|&c| {
                let reference = self.p(0, &seq, c);
                for (i, l) in log_r.iter_mut().enumerate() {
                    *l += self.p(i + 1, &seq, c) - reference;
                }
                if self.target == Target::Mpg {
                    correction += reference - self.q(&seq)[c as usize].ln();
                }
                seq.push(c);
                let score: f64 = self
                    .alpha
                    .iter()
                    .zip(&log_r)
                    .map(|(a, l)| a * l.exp())
                    .sum();
                if score > 0.0 {
                    score.ln() + correction
                } else {
                    f64::NEG_INFINITY
                }
            })
            .collect()
    }

    /// Every chunk of `len` tokens the proposal can draw after `prefix`, with
    /// its probability.
    fn chunks(&self, prefix: &[u32], len: usize) -> Vec<(Vec<u32>, f64)> {
        let mut out = vec![(Vec::new(), 1.0)];
        for _ in 0..len {
            out = out
                .into_iter()
                .flat_map(|(c, p): (Vec<u32>, f64)| {
                    let seq: Vec<u32> = prefix.iter().chain(&c).copied().collect();
                    let q = self.q(&seq);
                    (0..self.vocab as u32)
                        .filter(|&t| q[t as usize] > 0.0)
                        .map(|t| {
                            let mut c = c.clone();
                            c.push(t);
                            (c, p * q[t as usize])
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
        }
        out
    }

    /// The largest `S` of any chunk of at most k tokens after any prefix
    /// of the table (which looks at the last token only), times 1.01.
    pub fn true_log_m(&self) -> f64 {
        let prefixes = std::iter::once(vec![]).chain((0..self.vocab as u32).map(|t| vec![t]));
        let mut m = f64::NEG_INFINITY;
        for prefix in prefixes {
            for (c, _) in self.chunks(&prefix, self.k) {
                m = self.scores(&prefix, &c).into_iter().fold(m, f64::max);
            }
        }
        m + 1.01f64.ln()
    }

    /// The probability of every answer of `max_tokens` tokens, starting
    /// with `bound`.
    pub fn answers(&self, bound: Bound) -> HashMap<Vec<u32>, f64> {
        let mut out = HashMap::new();
        self.extend(Vec::new(), bound, 1.0, &mut out);
        out
    }

    fn extend(&self, y: Vec<u32>, bound: Bound, p: f64, out: &mut HashMap<Vec<u32>, f64>) {
        if y.len() >= self.max_tokens {
            *out.entry(y).or_insert(0.0) += p;
            return;
        }
        let log_m = bound.log_m();
        let a = |s: f64| (s - log_m).exp().min(1.0);
        let kk = self.k.min(self.max_tokens - y.len());
        // Accepted segment -> (its S, probability).
        let mut next: HashMap<Vec<u32>, (f64, f64)> = HashMap::new();
        let mut add = |seg: &[u32], s: f64, p: f64| {
            next.entry(seg.to_vec()).or_insert((s, 0.0)).1 += p;
        };
        let mut none = 0.0;
        for (c, qc) in self.chunks(&y, kk) {
            let s = self.scores(&y, &c);
            let mut reach = qc;
            add(&c, s[kk - 1], reach * a(s[kk - 1]));
            reach *= 1.0 - a(s[kk - 1]);
            if self.salvage {
                for j in (1..kk).rev() {
                    add(&c[..j], s[j - 1], reach * a(s[j - 1]));
                    reach *= 1.0 - a(s[j - 1]);
                }
            }
            none += reach;
        }
        if self.retry {
            // Proposed again until accepted: the accepted outcomes renormalised.
            for v in next.values_mut() {
                v.1 /= 1.0 - none;
            }
        } else {
            // RS-1: one token ∝ q(c) · A(c), by the same single-token test.
            let q = self.q(&y);
            let w: Vec<(u32, f64, f64)> = (0..self.vocab as u32)
                .map(|t| {
                    let s = self.scores(&y, &[t])[0];
                    (t, s, q[t as usize] * a(s))
                })
                .collect();
            let z: f64 = w.iter().map(|x| x.2).sum();
            for (t, s, wt) in w {
                add(&[t], s, none * wt / z);
            }
        }
        for (seg, (s, ps)) in next {
            if ps > 0.0 {
                let mut b = bound.clone();
                b.push(s);
                let y2: Vec<u32> = y.iter().chain(&seg).copied().collect();
                self.extend(y2, b, p * ps, out);
            }
        }
    }
}
