//! Best-of-N: N whole answers drawn from the reference (the proposal
//! sampling, as Seq-RS draws them), each scored by the sequence-level MPG
//! score `log Σ α_i Σ_t (log π_i(y_t) − log π_ref(y_t))`, and the one with
//! the highest score kept (the first on ties). The baseline the speculative
//! rejection literature compares rejection sampling with: it always costs N
//! answers and samples no closed-form distribution (the probe says so).
//! N is the answer-tries setting (`max_seq_tries`, default 8). Views: 0 the
//! reference, `1..=N` the experts.

use super::common::Outcome;
use super::method::{DecodeContext, Knob, MethodInfo, Probe};
use super::mpg_method::{mpg_info, MpgSampler};
use super::rs::{emit_answer, prompt_rows, propose_answer, Aim, ScoredAnswer};
use super::view_model::ViewModel;
use crate::Result;

/// Best-of-N over the reference's answers, by the MPG score.
pub(crate) struct BestOfN;

impl MpgSampler for BestOfN {
    fn describe(&self) -> &'static MethodInfo {
        static INFO: MethodInfo = mpg_info(
            "best-of-n",
            "Best-of-N",
            "Best-of-N: draws N whole answers from the reference and keeps the one the α-weighted experts score highest (N = the answer tries).",
            "the answer with the highest MPG score log Σ α_i r_i(y) among N drawn from the proposal q; no closed form",
            &[Knob::AnswerTries],
            Probe::Unavailable(
                "Best-of-N keeps the best of N sampled answers, a distribution without a closed-form likelihood for a given completion",
            ),
        );
        &INFO
    }

    async fn decode<M: ViewModel>(&self, m: &mut M, cx: DecodeContext<'_>) -> Result<Outcome> {
        let start = prompt_rows(m);
        let mut out = Outcome::default();
        let mut best: Option<ScoredAnswer> = None;
        let scr = cx.cfg.sampler(&cx.alpha);
        let aim = Aim::new(&cx.alpha, &scr);
        for _ in 0..cx.cfg.max_seq_tries {
            let answer = propose_answer(m, &aim, &start, &cx.limits, cx.rng, &mut out).await?;
            match &best {
                Some(b) if answer.log_score <= b.log_score => {
                    out.rejected += answer.tokens.len() as u64
                }
                _ => {
                    if let Some(b) = best.take() {
                        out.rejected += b.tokens.len() as u64;
                    }
                    best = Some(answer);
                }
            }
        }
        let answer = best.expect("validated: at least one answer");
        emit_answer(answer, &cx.alpha, &cx.limits, &mut out, cx.sink);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::steer::common::Limits;
    use crate::steer::config::{RunConfig, WeightedExpert};
    use crate::steer::method::ProbeCompletions;
    use crate::steer::methods::Method;
    use crate::steer::rs::tests::{q, score, table, ALPHA, EXACT};
    use crate::steer::tabular::{assert_fits, TabularViews};

    fn config(n: usize) -> RunConfig {
        let mut cfg = RunConfig {
            method: Method::BestOfN,
            experts: vec![
                WeightedExpert::prompt("A", "a", ALPHA[0]),
                WeightedExpert::prompt("B", "b", ALPHA[1]),
            ],
            user: "Hi".into(),
            max_tokens: 2,
            max_seq_tries: n,
            ..RunConfig::default()
        };
        cfg.scr.proposal = EXACT;
        cfg
    }

    /// Counts of each 2-token answer over `runs` Best-of-`n` answers.
    fn counts(n: usize, runs: usize, seed: u64) -> ([u64; 16], Outcome) {
        let cfg = config(n);
        cfg.validate().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = [0u64; 16];
        let mut last = Outcome::default();
        for _ in 0..runs {
            let cx = DecodeContext {
                cfg: &cfg,
                alpha: cfg.alpha(),
                limits: Limits {
                    max_tokens: 2,
                    eos: 99,
                },
                rng: &mut rng,
                sink: &mut |_| {},
            };
            let mut views = TabularViews::new(4, 3, table());
            last = pollster::block_on(BestOfN.decode(&mut views, cx)).unwrap();
            counts[(last.tokens[0] * 4 + last.tokens[1]) as usize] += 1;
        }
        (counts, last)
    }

    /// P(Best-of-n keeps y): the best score of n draws is y's, and y is the
    /// first draw that reached it, `(F(≤s)^n − F(<s)^n) · q(y) / Q(s)`.
    fn best_of(n: i32) -> Vec<f64> {
        let seqs: Vec<[u32; 2]> = (0..16).map(|i| [i / 4, i % 4]).collect();
        let qs: Vec<f64> = seqs.iter().map(|y| q(&[], y)).collect();
        let ss: Vec<f64> = seqs.iter().map(|y| score(&[], y)).collect();
        (0..16)
            .map(|y| {
                let mass = |keep: &dyn Fn(f64) -> bool| -> f64 {
                    (0..16).filter(|&z| keep(ss[z])).map(|z| qs[z]).sum()
                };
                let below = mass(&|s| s < ss[y]);
                let class = mass(&|s| s == ss[y]);
                ((below + class).powi(n) - below.powi(n)) * qs[y] / class
            })
            .collect()
    }

    #[test]
    fn best_of_three_keeps_the_highest_scored_answer_with_the_right_frequencies() {
        let (counts, out) = counts(3, 20_000, 21);
        assert_fits(&counts, &best_of(3), "Best-of-3");
        // It moves mass toward high scores: not the reference's distribution.
        let (chi, _) = crate::steer::tabular::chi_square(
            &counts,
            &(0..16).map(|i| q(&[], &[i / 4, i % 4])).collect::<Vec<_>>(),
        );
        assert!(chi > 100.0, "Best-of-3 looks like the reference: χ² {chi}");
        // Three answers of 2 tokens proposed, two of them discarded.
        assert_eq!((out.proposed, out.rejected, out.tokens.len()), (6, 4, 2));
    }

    #[test]
    fn best_of_one_is_the_reference() {
        let (counts, out) = counts(1, 10_000, 22);
        let q: Vec<f64> = (0..16).map(|i| q(&[], &[i / 4, i % 4])).collect();
        assert_fits(&counts, &q, "Best-of-1");
        assert_eq!(out.rejected, 0);
    }

    #[test]
    fn the_probe_says_it_has_no_closed_form() {
        let cfg = config(3);
        let mut views = TabularViews::new(4, 3, table());
        let item = ProbeCompletions {
            completions: [&[0, 1], &[1, 0]],
            eos: 99,
        };
        let err = pollster::block_on(Method::BestOfN.probe(&cfg, &mut views, item)).unwrap_err();
        assert!(err.to_string().contains("closed-form"), "{err}");
    }
}
