//! SCR — Speculative Chunk-level Rejection sampling (MPG paper §3.3,
//! Algorithm 1; ALGORITHMS.md "MPG with SCR", steps 1-7). Views: 0 is the
//! reference (proposal), 1..=N the experts with weights α (signed).
//!
//! Cost per chunk of k tokens: every view takes each proposed token in one
//! batched call (one position per row), the reference proposing the next
//! token from the same call's reads: k − 1 calls while proposing, and one
//! more for the last token when the whole chunk is accepted. Only sparse
//! read-outs travel back (`mpg_at`): after each token, the reference's
//! candidates with every view's log-prob at them (a proposal from the
//! candidates is scored by every expert without another read) and the MPG
//! target's best tokens.
//!
//! What it samples (docs/ALGORITHMS.md "SCR"): with `q` the tempered,
//! truncated proposal and `R(C) = max(0, Σ α_i π_i(C)/π_ref(C))`, the test
//! score is `log target − log q`: whole accepted chunks follow `q(C)·R(C)`
//! (target `tempered`) or `π_ref(C)·R(C)` on the nucleus (target `mpg`)
//! while no test exceeds the bound; salvaged prefixes and RS-1 tokens make
//! an answer a mixture. The exact preset (`ScrConfig::exact`) samples the
//! chunk-level MPG target `p(C|Y) ∝ max(0, Σ α_i π_i(C|Y))`.

use rand_chacha::ChaCha8Rng;

use super::bound::Bound;
use super::common::{Limits, Outcome};
use super::config::RunConfig;
use super::events::Event;
use super::method::{DecodeContext, Knob, MethodInfo, Probe};
use super::mpg_at::{covering, MpgAt};
use super::mpg_method::{mpg_info, MpgSampler, SEQUENCE_TARGET_PROXY};
use super::mutation::{active, Mutation};
use super::rs::{emit_rs1, log_uniform, rs1, Aim};
use super::score::log_score;
use super::validate::invalid;
use super::view_model::ViewModel;
use crate::backend::MixRead;
use crate::Result;

pub(crate) use super::config::ScrConfig;

pub(crate) async fn decode<M: ViewModel>(
    m: &mut M,
    cfg: &ScrConfig,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let n = cfg.alpha.len();
    let aim = Aim::new(&cfg.alpha, cfg);
    let salvage = cfg.salvage && !active(Mutation::NoSalvage);
    let mut bound = Bound::new(cfg.bound, &cfg.alpha);
    let mut out = Outcome::default();
    let mut chunk_index = 0;
    // Chunks rejected in a row at this Y (the exact preset proposes again).
    let mut retries = 0;
    // Every view at the accepted prefix Y: the reference's candidates with
    // every view's log-prob at them, and the MPG target's best tokens.
    let mut at_y = MpgAt::start(m, &cfg.alpha);
    while !out.done(&limits) {
        let base = out.tokens.len();
        // The views may start after a shared history: lengths are their own.
        let y = m.len(0);
        at_y = covering(
            m,
            at_y,
            &cfg.alpha,
            &cfg.proposal,
            rng,
            &mut out.dense_rereads,
        )
        .await?;

        // 1. Propose up to k tokens from the reference (stop at EOS). Every
        // view takes each proposed token but the last in one batched call,
        // whose reads give the next proposal and every expert's log-prob of
        // it. after[t]: every view after chunk token t, at Y + t + 1.
        let kk = cfg.k.min(limits.max_tokens - base);
        let mut proposed = vec![at_y.propose(&cfg.proposal, rng)];
        let mut after: Vec<Option<MpgAt>> = Vec::new();
        while proposed[proposed.len() - 1].token != limits.eos && proposed.len() < kk {
            let last = proposed[proposed.len() - 1].token;
            let at = MpgAt::after(m, &cfg.alpha, &cfg.proposal, last).await?;
            let at = covering(
                m,
                at,
                &cfg.alpha,
                &cfg.proposal,
                rng,
                &mut out.dense_rereads,
            )
            .await?;
            proposed.push(at.propose(&cfg.proposal, rng));
            after.push(Some(at));
        }
        let chunk: Vec<u32> = proposed.iter().map(|p| p.token).collect();
        let kc = chunk.len();

        // 2. Every view's log-prob of each chunk token, read before it.
        let before = |t: usize| -> &MpgAt {
            if t == 0 {
                &at_y
            } else {
                after[t - 1].as_ref().expect("not taken yet")
            }
        };
        let log_ratios: Vec<Vec<f64>> = {
            let expert_lp: Vec<Vec<f32>> = (0..kc).map(|t| before(t).log_probs(chunk[t])).collect();
            (0..n)
                .map(|i| {
                    (0..kc)
                        .map(|t| expert_lp[t][i + 1] as f64 - proposed[t].ref_lp)
                        .collect()
                })
                .collect()
        };
        let alternatives: Vec<_> = (0..kc).map(|t| before(t).alternatives()).collect();

        // 3. S(j) for every prefix, from the cumulative log-ratios.
        let corrections: Vec<f64> = proposed.iter().map(|p| p.correction(cfg.target)).collect();
        let s = prefix_scores(&cfg.alpha, &log_ratios, &corrections);

        // 4. Full chunk, then prefix salvage with fresh uniforms.
        let log_m = bound.log_m();
        let mut accepted = 0;
        let whole_u = log_uniform(rng);
        if bound.accepts(s[kc - 1], whole_u) {
            accepted = kc;
        } else if salvage {
            for j in (1..kc).rev() {
                let u = if active(Mutation::SharedSalvageUniform) {
                    whole_u
                } else {
                    log_uniform(rng)
                };
                if bound.accepts(s[j - 1], u) {
                    accepted = j;
                    break;
                }
            }
        }
        out.proposed += kc as u64;
        out.rejected += (kc - accepted) as u64;

        // 7. Roll every view back to the accepted length (they hold the
        // chunk but its last token); what was read after the last accepted
        // token is the next chunk's start.
        if accepted < kc {
            for v in 0..=n {
                m.truncate(v, y + accepted, Vec::new())?;
            }
        }
        if accepted > 0 && accepted < kc {
            at_y = after[accepted - 1]
                .take()
                .expect("read after each chunk token but the last");
        }

        // Emit the accepted tokens with their per-expert rewards.
        for (t, top) in alternatives.into_iter().enumerate().take(accepted) {
            let rewards: Vec<f64> = log_ratios.iter().map(|r| r[t]).collect();
            let reward = rewards.iter().zip(&cfg.alpha).map(|(r, a)| r * a).sum();
            sink(Event::Token {
                index: out.tokens.len(),
                id: chunk[t],
                text: String::new(),
                reward: Some(reward),
                rewards,
                top,
                chunk: Some(chunk_index),
            });
            out.push(chunk[t], &limits);
        }
        // The whole chunk accepted: every view takes its last token, and
        // what is read after it starts the next chunk.
        if accepted == kc && !out.done(&limits) {
            at_y = MpgAt::after(m, &cfg.alpha, &cfg.proposal, chunk[kc - 1]).await?;
        }

        // 5. Nothing accepted: the exact preset proposes a new chunk from
        // Y (up to `max_fallback_tries` times), else the RS-1 fallback.
        let mut fallback = None;
        if accepted > 0 {
            retries = 0;
            // 6. The accepted candidate's S feeds the bound.
            bound.push(s[accepted - 1]);
        } else if cfg.exact && retries < cfg.max_fallback_tries {
            retries += 1;
        } else {
            retries = 0;
            // `at_y` still covers the nucleus (made sure before proposing).
            let step = rs1(&at_y, &aim, &mut bound, cfg.max_fallback_tries, rng);
            out.fallback_tokens += 1;
            fallback = Some(step.forced);
            if !step.forced {
                bound.push(step.s);
            }
            if let Some(next) = emit_rs1(
                m,
                &at_y,
                &aim,
                &step,
                Some(chunk_index),
                &mut out,
                &limits,
                sink,
            )
            .await?
            {
                at_y = next;
            }
        }
        sink(Event::Chunk {
            index: chunk_index,
            proposed: chunk,
            accepted,
            s,
            log_m,
            log_ratios,
            fallback: fallback.is_some(),
            forced: fallback == Some(true),
        });
        chunk_index += 1;
    }
    out.count_tests(&bound);
    Ok(out)
}

/// `S(j)` of every prefix of a chunk: `log max(0, Σ_i α_i exp(L_i(j)))`
/// over the cumulative log-ratios `L_i(j)`, plus the target's cumulative
/// correction for the proposal.
fn prefix_scores(alpha: &[f64], log_ratios: &[Vec<f64>], corrections: &[f64]) -> Vec<f64> {
    let mut cumulative = vec![0f64; alpha.len()];
    let (mut correction, mut product) = (0.0, 0.0);
    (0..corrections.len())
        .map(|t| {
            correction += corrections[t];
            if active(Mutation::ProductOfTokenScores) {
                let token: Vec<f64> = log_ratios.iter().map(|r| r[t]).collect();
                product += log_score(alpha, &token);
                return product + correction;
            }
            cumulative
                .iter_mut()
                .zip(log_ratios)
                .for_each(|(c, r)| *c += r[t]);
            log_score(alpha, &cumulative) + correction
        })
        .collect()
}

/// SCR: k-token chunks from the reference, accepted by rejection sampling
/// against the MPG target.
pub(crate) struct Scr;

impl MpgSampler for Scr {
    fn describe(&self) -> &'static MethodInfo {
        static INFO: MethodInfo = mpg_info(
            "scr",
            "SCR",
            "Speculative chunk rejection: proposes k tokens at a time and keeps the prefix the α-weighted experts accept.",
            "whole chunks ∝ q(C) · R(C), R(C) = max(0, Σ α_i π_i(C) / π_ref(C)) (target mpg: π_ref(C) · R(C)) while no test exceeds the bound; salvaged prefixes and RS-1 tokens make the answer a mixture; the exact preset samples the chunk-level MPG target",
            &[Knob::ChunkSize],
            Probe::Proxy(SEQUENCE_TARGET_PROXY),
        );
        &INFO
    }

    fn validate_own(&self, cfg: &RunConfig) -> Result<()> {
        if cfg.scr.k == 0 {
            return Err(invalid("chunk size k must be at least 1"));
        }
        Ok(())
    }

    fn first_reads(&self, cfg: &RunConfig) -> Vec<MixRead> {
        MpgAt::first_reads(&cfg.alpha(), &cfg.scr.in_force().proposal)
    }

    async fn decode<M: ViewModel>(&self, m: &mut M, cx: DecodeContext<'_>) -> Result<Outcome> {
        let scr = cx.cfg.sampler(&cx.alpha);
        decode(m, &scr, cx.limits, cx.rng, cx.sink).await
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::rs::tests::{q, score, table, true_log_m, ALPHA, EXACT};
    use super::super::tabular::{
        chi_square, chi_square_critical_001, flat_after_one, TabularViews,
    };
    use super::*;
    use crate::engine::sampling::Sampling;
    use crate::steer::bound::BoundConfig;

    fn config(log_m: f64) -> ScrConfig {
        ScrConfig {
            k: 2,
            alpha: ALPHA.to_vec(),
            bound: BoundConfig {
                fixed: Some(log_m),
                ..BoundConfig::default()
            },
            proposal: EXACT,
            max_fallback_tries: 1000,
            salvage: true,
            ..ScrConfig::default()
        }
    }

    /// Token-level target after `prefix`: ∝ q(c) · score(c).
    fn token_target(prefix: &[u32], c: u32) -> f64 {
        let z: f64 = (0..4).map(|x| q(prefix, &[x]) * score(prefix, &[x])).sum();
        q(prefix, &[c]) * score(prefix, &[c]) / z
    }

    /// The exact output distribution of SCR (k = 2, two tokens, true bound M):
    /// (the chi-square tests draw 100,000 responses from a seed fixed before
    /// looking; 20,000 draws gave chi2 between 9.4 and 23.5 over 15 df on
    /// eleven other seeds, once 40.4, which 200,000 draws brought to 15.7)
    /// whole chunk accepted, or prefix salvaged and the second token drawn by
    /// a one-token chunk (exact RS), or nothing accepted and both tokens by RS.
    fn exact_scr(log_m: f64) -> Vec<f64> {
        let m = log_m.exp();
        let a2 = |a: u32, b: u32| (score(&[], &[a, b]) / m).min(1.0);
        let a1 = |a: u32| (score(&[], &[a]) / m).min(1.0);
        let p_none: f64 = (0..16u32)
            .map(|i| q(&[], &[i / 4, i % 4]) * (1.0 - a2(i / 4, i % 4)) * (1.0 - a1(i / 4)))
            .sum();
        (0..16u32)
            .map(|i| {
                let (a, b) = (i / 4, i % 4);
                let salvaged: f64 = (0..4)
                    .map(|c| q(&[], &[a, c]) * (1.0 - a2(a, c)))
                    .sum::<f64>()
                    * a1(a);
                q(&[], &[a, b]) * a2(a, b)
                    + salvaged * token_target(&[a], b)
                    + p_none * token_target(&[], a) * token_target(&[a], b)
            })
            .collect()
    }

    #[test]
    fn scr_with_a_true_bound_samples_its_exact_distribution_and_whole_chunks_the_mpg_target() {
        let log_m = true_log_m();
        let exact = exact_scr(log_m);
        assert!((exact.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let limits = Limits {
            max_tokens: 2,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2026);
        let (mut all, mut whole) = ([0u64; 16], [0u64; 16]);
        for _ in 0..100_000 {
            let mut views = TabularViews::new(4, 3, table());
            let mut first_whole = false;
            let out = pollster::block_on(decode(
                &mut views,
                &config(log_m),
                limits,
                &mut rng,
                &mut |ev| {
                    if let Event::Chunk {
                        index: 0,
                        accepted: 2,
                        ..
                    } = ev
                    {
                        first_whole = true;
                    }
                },
            ))
            .unwrap();
            assert_eq!(out.forced_tokens, 0);
            let cell = (out.tokens[0] * 4 + out.tokens[1]) as usize;
            all[cell] += 1;
            if first_whole {
                whole[cell] += 1;
            }
        }
        let (stat, df) = chi_square(&all, &exact);
        assert!(
            stat < chi_square_critical_001(df),
            "SCR output: chi2 {stat:.2}, {df} df"
        );
        // Chunks accepted whole follow π_ref · R / Z, the MPG target of the chunk.
        let target: Vec<f64> = (0..16u32)
            .map(|i| q(&[], &[i / 4, i % 4]) * score(&[], &[i / 4, i % 4]))
            .collect();
        let z: f64 = target.iter().sum();
        let target: Vec<f64> = target.iter().map(|t| t / z).collect();
        let (stat, df) = chi_square(&whole, &target);
        assert!(whole.iter().sum::<u64>() > 1_500);
        assert!(
            stat < chi_square_critical_001(df),
            "whole chunks: chi2 {stat:.2}, {df} df"
        );
    }

    #[test]
    fn sparse_read_outs_give_the_tokens_and_events_of_whole_vocabularies() {
        // Nuclei past the candidates (after token 1) make the sampler read
        // every view densely again; the run must not notice.
        let cfg = ScrConfig {
            k: 3,
            alpha: vec![1.0, -0.5],
            proposal: Sampling::TopP {
                temperature: 0.7,
                top_p: 0.9,
                seed: 0,
            },
            ..ScrConfig::default()
        };
        let limits = Limits {
            max_tokens: 60,
            eos: 99,
        };
        let run = |views: TabularViews| {
            let mut views = views;
            let mut events = Vec::new();
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            let out = pollster::block_on(decode(&mut views, &cfg, limits, &mut rng, &mut |ev| {
                events.push(format!("{ev:?}"))
            }))
            .unwrap();
            (out, events)
        };
        let (sparse, sparse_events) = run(TabularViews::new(100, 3, Box::new(flat_after_one)));
        let (whole, whole_events) =
            run(TabularViews::new(100, 3, Box::new(flat_after_one)).with_whole_reads());
        assert!(sparse.dense_rereads > 0, "the test must reach the fallback");
        assert_eq!(whole.dense_rereads, 0);
        assert_eq!(sparse.tokens, whole.tokens);
        assert_eq!(sparse_events.len(), whole_events.len());
        for (i, (a, b)) in sparse_events.iter().zip(&whole_events).enumerate() {
            assert!(a == b, "event {i}: {a}\nvs {b}");
        }
    }

    #[test]
    fn wrong_targets_are_detected() {
        // The same statistic rejects the proposal distribution itself: the
        // test above has power.
        let log_m = true_log_m();
        let limits = Limits {
            max_tokens: 2,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let mut all = [0u64; 16];
        for _ in 0..20_000 {
            let out = pollster::block_on(decode(
                &mut TabularViews::new(4, 3, table()),
                &config(log_m),
                limits,
                &mut rng,
                &mut |_| {},
            ))
            .unwrap();
            all[(out.tokens[0] * 4 + out.tokens[1]) as usize] += 1;
        }
        let proposal: Vec<f64> = (0..16u32).map(|i| q(&[], &[i / 4, i % 4])).collect();
        let (stat, df) = chi_square(&all, &proposal);
        assert!(stat > chi_square_critical_001(df));
    }

    #[test]
    fn chunks_roll_back_and_cost_k_calls_per_whole_chunk() {
        // Long run with the online bound: the tabular model asserts that every
        // rollback hands each view its correct next distribution.
        let limits = Limits {
            max_tokens: 40,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut views = TabularViews::new(4, 3, table());
        let cfg = ScrConfig {
            k: 4,
            bound: BoundConfig {
                window: 5,
                ..BoundConfig::default()
            },
            ..config(0.0)
        };
        let mut chunks = Vec::new();
        let out = pollster::block_on(decode(&mut views, &cfg, limits, &mut rng, &mut |ev| {
            if let Event::Chunk {
                accepted,
                proposed,
                fallback,
                ..
            } = ev
            {
                chunks.push((accepted, proposed.len(), fallback));
            }
        }))
        .unwrap();
        assert_eq!(out.tokens.len(), 40);
        for (v, len) in (0..3).map(|v| (v, views.len(v))) {
            assert_eq!(
                len,
                40 - 1,
                "view {v} holds every emitted token but the last"
            );
        }
        // Calls: per chunk, every view takes each proposed token but the
        // last while proposing, and the last too when the whole chunk is
        // accepted; a fallback token is one more call. The answer's last
        // token needs none.
        let expected: u64 = chunks
            .iter()
            .map(|&(accepted, k, fb)| (k - 1 + usize::from(accepted == k) + usize::from(fb)) as u64)
            .sum();
        let cost = views.cost();
        assert!(
            cost.forward_calls + 1 >= expected && cost.forward_calls <= expected,
            "{} calls for {chunks:?}",
            cost.forward_calls
        );
        // Every call takes one position in every view (no k-position rows,
        // no reference-only steps: docs/ALGORITHMS.md "Scheduling").
        assert_eq!(cost.row_evaluations, 3 * cost.forward_calls);
        assert_eq!(cost.token_evaluations, cost.row_evaluations);
    }

    // ---- Tests with power (issue 14): several chunks, k = 3 and 4, the
    // online bound, tempered proposals, the exact preset, each compared by
    // chi-square with the exact distribution `sampler_spec` enumerates; and
    // each known bug injected (`mutation`) must fail the same test. Seeds
    // were fixed before the statistics were looked at; `cargo test --release
    // -- --nocapture chi2` prints them.

    use std::collections::HashMap;

    use super::super::mutation::{self, Mutation};
    use super::super::sampler_spec::ScrSpec;
    use super::super::tabular::Table;
    use crate::steer::config::Target;

    /// Reference and two experts over 3 tokens, each depending on the last
    /// token; expert 2 (α < 0) likes token 2 after token 1 so much that
    /// some chunks score below 0.
    fn power_table() -> Table {
        Box::new(|view: usize, seq: &[u32]| {
            let last = seq.last().map(|&t| t as usize);
            let mut p = match view {
                0 => vec![0.5, 0.3, 0.2],
                1 => vec![0.3, 0.4, 0.3],
                _ => vec![0.3, 0.3, 0.4],
            };
            match (view, last) {
                (0, Some(l)) => p[l] += 0.2,
                (1, Some(l)) => p[(l + 2) % 3] += 0.3,
                (2, Some(1)) => p[2] += 1.5,
                _ => {}
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|x| x / s).collect()
        })
    }

    const POWER_ALPHA: [f64; 2] = [1.0, -0.5];
    const ANSWER: usize = 6;

    #[derive(Clone, Copy)]
    struct Case {
        k: usize,
        salvage: bool,
        temperature: f32,
        top_p: f32,
        target: Target,
        exact: bool,
        /// `None`: the true bound; else the online bound with this log M0.
        online_m0: Option<f64>,
    }

    const PLAIN: Case = Case {
        k: 3,
        salvage: true,
        temperature: 1.0,
        top_p: 1.0,
        target: Target::Mpg,
        exact: false,
        online_m0: None,
    };

    fn spec(case: Case, table: &Table) -> ScrSpec<'_> {
        ScrSpec {
            table,
            vocab: 3,
            alpha: POWER_ALPHA.to_vec(),
            k: case.k,
            max_tokens: ANSWER,
            salvage: case.salvage,
            temperature: case.temperature as f64,
            top_p: case.top_p as f64,
            target: case.target,
            retry: case.exact,
        }
    }

    fn scr_config(case: Case, true_log_m: f64) -> ScrConfig {
        ScrConfig {
            k: case.k,
            alpha: POWER_ALPHA.to_vec(),
            bound: match case.online_m0 {
                None => BoundConfig {
                    fixed: Some(true_log_m),
                    ..BoundConfig::default()
                },
                Some(m0) => BoundConfig {
                    window: 2,
                    gamma: 1.2,
                    tau: 1e-6,
                    log_m0: Some(m0),
                    fixed: None,
                },
            },
            proposal: Sampling::TopP {
                temperature: case.temperature,
                top_p: case.top_p,
                seed: 0,
            },
            max_fallback_tries: 100_000,
            salvage: case.salvage,
            target: case.target,
            exact: case.exact,
        }
    }

    /// Chi-square of `draws` answers of `case` (with `mutation` injected)
    /// against the spec's distribution: (statistic, df, 1% critical value)
    /// of the whole answers, their first and their last three tokens.
    fn chi2(
        case: Case,
        mutation: Option<Mutation>,
        draws: usize,
        seed: u64,
    ) -> [(f64, usize, f64); 3] {
        let table = power_table();
        let spec = spec(case, &table);
        let log_m = spec.true_log_m();
        let cfg = scr_config(case, log_m);
        let exact = spec.answers(Bound::new(cfg.bound, &cfg.alpha));
        let total: f64 = exact.values().sum();
        assert!((total - 1.0).abs() < 1e-9, "spec sums to {total}");
        let limits = Limits {
            max_tokens: ANSWER,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts: HashMap<Vec<u32>, u64> = HashMap::new();
        let mut run = || {
            for _ in 0..draws {
                let mut views = TabularViews::new(3, 3, power_table());
                let out =
                    pollster::block_on(decode(&mut views, &cfg, limits, &mut rng, &mut |_| {}))
                        .unwrap();
                assert_eq!(out.forced_tokens, 0);
                *counts.entry(out.tokens).or_insert(0) += 1;
            }
        };
        match mutation {
            Some(m) => mutation::with(m, run),
            None => run(),
        }
        // Three statistics: the whole answers, and their first and last
        // three tokens (27 cells each: most of a bug's signal in few cells).
        let project = |f: &dyn Fn(&[u32]) -> Vec<u32>| -> (f64, usize, f64) {
            let mut observed: HashMap<Vec<u32>, u64> = HashMap::new();
            let mut expected: HashMap<Vec<u32>, f64> = HashMap::new();
            for (y, n) in &counts {
                *observed.entry(f(y)).or_insert(0) += n;
            }
            for (y, p) in &exact {
                *expected.entry(f(y)).or_insert(0.0) += p;
            }
            let mut cells: Vec<&Vec<u32>> = expected.keys().chain(observed.keys()).collect();
            cells.sort();
            cells.dedup();
            let o: Vec<u64> = cells
                .iter()
                .map(|c| observed.get(*c).copied().unwrap_or(0))
                .collect();
            let e: Vec<f64> = cells
                .iter()
                .map(|c| expected.get(*c).copied().unwrap_or(0.0))
                .collect();
            let (stat, df) = chi_square(&o, &e);
            (stat, df, chi_square_critical_001(df))
        };
        let stats = [
            project(&|y| y.to_vec()),
            project(&|y| y[..3].to_vec()),
            project(&|y| y[3..].to_vec()),
        ];
        println!(
            "chi2 k={} salvage={} T={} top-p={} {:?} exact={} online m0={:?} mutation={mutation:?}: {}",
            case.k,
            case.salvage,
            case.temperature,
            case.top_p,
            case.target,
            case.exact,
            case.online_m0,
            stats
                .iter()
                .map(|(s, df, c)| format!("{s:.1} on {df} df (critical {c:.1})"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        stats
    }

    const DRAWS: usize = 60_000;

    fn assert_fits_spec(case: Case, seed: u64) {
        for (stat, df, critical) in chi2(case, None, DRAWS, seed) {
            assert!(stat < critical, "chi2 {stat:.1} on {df} df");
        }
    }

    fn assert_caught(case: Case, m: Mutation, seed: u64) {
        let stats = chi2(case, Some(m), DRAWS, seed);
        assert!(
            stats.iter().any(|(stat, _, critical)| stat > critical),
            "{m:?} passed: {stats:?}"
        );
    }

    #[test]
    fn chunks_of_three_with_a_true_bound_sample_the_spec() {
        assert_fits_spec(PLAIN, 31);
    }

    #[test]
    fn chunks_of_four_with_a_true_bound_sample_the_spec() {
        assert_fits_spec(Case { k: 4, ..PLAIN }, 32);
    }

    #[test]
    fn the_online_bound_over_several_chunks_samples_the_spec() {
        assert_fits_spec(
            Case {
                online_m0: Some(0.2),
                ..PLAIN
            },
            33,
        );
    }

    #[test]
    fn tempered_truncated_proposals_sample_the_spec_for_both_targets() {
        let tempered = Case {
            temperature: 0.7,
            top_p: 0.9,
            ..PLAIN
        };
        assert_fits_spec(tempered, 34);
        assert_fits_spec(
            Case {
                target: Target::Tempered,
                ..tempered
            },
            35,
        );
    }

    #[test]
    fn the_exact_preset_samples_the_chunk_level_mpg_target() {
        let exact = Case {
            salvage: false,
            exact: true,
            ..PLAIN
        };
        // The spec of the preset is the chunk-level target, computed directly:
        // p(C | Y) ∝ max(0, Σ α_i π_i(C | Y)) over chunks of k tokens.
        let table = power_table();
        let s = spec(exact, &table);
        let answers = s.answers(Bound::new(
            scr_config(exact, s.true_log_m()).bound,
            &POWER_ALPHA,
        ));
        let chunk_target = |y: &[u32], c: &[u32]| -> f64 {
            let weight = |c: &[u32]| -> f64 {
                let mut seq = y.to_vec();
                let mut p = [1f64; 2];
                for &t in c {
                    for (i, p) in p.iter_mut().enumerate() {
                        *p *= table(i + 1, &seq)[t as usize];
                    }
                    seq.push(t);
                }
                (POWER_ALPHA[0] * p[0] + POWER_ALPHA[1] * p[1]).max(0.0)
            };
            let z: f64 = (0..27u32).map(|i| weight(&[i / 9, i / 3 % 3, i % 3])).sum();
            weight(c) / z
        };
        for (y, p) in &answers {
            let direct = chunk_target(&[], &y[..3]) * chunk_target(&y[..3], &y[3..]);
            assert!((p - direct).abs() < 1e-6, "{y:?}: {p} vs {direct}");
        }
        assert_fits_spec(exact, 36);
    }

    #[test]
    fn each_known_sampler_bug_fails_its_chi_square_test() {
        assert_caught(PLAIN, Mutation::NoSalvage, 41);
        assert_caught(PLAIN, Mutation::SharedSalvageUniform, 42);
        assert_caught(PLAIN, Mutation::AbsScore, 43);
        assert_caught(PLAIN, Mutation::ProductOfTokenScores, 44);
    }
}
