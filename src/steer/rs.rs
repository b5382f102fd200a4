//! Rejection sampling against the MPG target `π_ref · max(0, Σ α_i r_i) / M`
//! (MPG paper §3.2, ALGORITHMS.md "Baselines"): the single-token test that
//! SCR falls back to, Token-RS built on it, and sequence-level Seq-RS.
//! Views: 0 is the reference (the proposal), 1..=N the experts.
//!
//! What they sample (docs/ALGORITHMS.md): Token-RS each token
//! `∝ q(v)·min(1, R(v)c(v)/M)` (`c = π_ref/q` for target `mpg`, 1 for
//! `tempered`), the token-level target while no test exceeds the bound;
//! Seq-RS whole answers against `M = γ·max` over its tries (empirical-
//! supremum rejection sampling) or a fixed bound (plain rejection sampling).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::bound::{Bound, BoundConfig};
use super::common::{Limits, Outcome};
use super::config::{RunConfig, ScrConfig, Target};
use super::events::Event;
use super::method::{DecodeContext, Knob, MethodInfo, Probe};
use super::mpg_at::{covering, draw_reference, reference_read, MpgAt, Proposed};
use super::mpg_method::{mpg_info, MpgSampler, SEQUENCE_TARGET_PROXY};
use super::score::log_score;
use super::view_model::ViewModel;
use crate::backend::{MixRead, Readout};
use crate::engine::sampling::Sampling;
use crate::Result;

/// `log u` for a fresh uniform in (0, 1).
pub(crate) fn log_uniform(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random();
    (u.max(f64::MIN_POSITIVE)).ln()
}

/// What a rejection sampler aims at: the experts' weights, the proposal it
/// draws from, and the target its test divides by that proposal for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Aim<'a> {
    pub alpha: &'a [f64],
    pub proposal: &'a Sampling,
    pub target: Target,
}

impl<'a> Aim<'a> {
    pub(crate) fn new(alpha: &'a [f64], scr: &'a ScrConfig) -> Self {
        Self {
            alpha,
            proposal: &scr.proposal,
            target: scr.target,
        }
    }

    /// The test's log-score of a proposed token at `at`: `log R` plus the
    /// target's correction for the proposal.
    pub(crate) fn token_score(&self, at: &MpgAt, p: &Proposed) -> f64 {
        log_score(self.alpha, &at.log_ratios(p.token)) + p.correction(self.target)
    }
}

/// Result of one single-token rejection-sampling step.
pub(crate) struct Rs1 {
    pub token: u32,
    pub s: f64,
    pub tries: usize,
    pub forced: bool,
}

/// Draws from the reference's candidates at `at` until the test accepts
/// (at most `max_tries`), scoring with the experts' log-probs at the same
/// position (no forward needed); falls back to the best-scoring candidate
/// seen. `at` must cover the proposal's nucleus (`mpg_at::covering`).
pub(crate) fn rs1(
    at: &MpgAt,
    aim: &Aim<'_>,
    bound: &mut Bound,
    max_tries: usize,
    rng: &mut ChaCha8Rng,
) -> Rs1 {
    let mut best = (0u32, f64::NEG_INFINITY);
    for tries in 1..=max_tries.max(1) {
        let p = at.propose(aim.proposal, rng);
        let s = aim.token_score(at, &p);
        if bound.accepts(s, log_uniform(rng)) {
            return Rs1 {
                token: p.token,
                s,
                tries,
                forced: false,
            };
        }
        if s > best.1 || tries == 1 {
            best = (p.token, s);
        }
    }
    Rs1 {
        token: best.0,
        s: best.1,
        tries: max_tries.max(1),
        forced: true,
    }
}

/// Emits one token accepted by `rs1` at `at`, with its rewards, and appends
/// it to every view, reading what the next step needs at the new position
/// (`None` when the response is complete).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn emit_rs1<M: ViewModel>(
    m: &mut M,
    at: &MpgAt,
    aim: &Aim<'_>,
    step: &Rs1,
    chunk: Option<usize>,
    out: &mut Outcome,
    limits: &Limits,
    sink: &mut dyn FnMut(Event),
) -> Result<Option<MpgAt>> {
    let alpha = aim.alpha;
    let ratios = at.log_ratios(step.token);
    let reward = ratios.iter().zip(alpha).map(|(r, a)| r * a).sum();
    sink(Event::Token {
        index: out.tokens.len(),
        id: step.token,
        text: String::new(),
        reward: Some(reward),
        rewards: ratios,
        top: at.alternatives(),
        chunk,
    });
    out.proposed += step.tries as u64;
    out.rejected += (step.tries - usize::from(!step.forced)) as u64;
    out.forced_tokens += u64::from(step.forced);
    if out.push(step.token, limits) {
        return Ok(None);
    }
    Ok(Some(
        MpgAt::after(m, alpha, aim.proposal, step.token).await?,
    ))
}

/// Token-RS: every token by the single-token test; one batched call per token.
pub(crate) async fn token_rs<M: ViewModel>(
    m: &mut M,
    aim: Aim<'_>,
    bound: &mut Bound,
    max_tries: usize,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut at = MpgAt::start(m, aim.alpha);
    loop {
        at = covering(m, at, aim.alpha, aim.proposal, rng, &mut out.dense_rereads).await?;
        let step = rs1(&at, &aim, bound, max_tries, rng);
        if !step.forced {
            bound.push(step.s);
        }
        match emit_rs1(m, &at, &aim, &step, None, &mut out, &limits, sink).await? {
            Some(next) => at = next,
            None => {
                out.count_tests(bound);
                return Ok(out);
            }
        }
    }
}

/// One whole answer drawn from the reference and scored by every expert.
pub(crate) struct ScoredAnswer {
    pub tokens: Vec<u32>,
    /// Per expert, per token: `log π_i − log π_ref`.
    pub ratios: Vec<Vec<f64>>,
    /// The sequence-level test score `log max(0, Σ α_i Π_t r_i(t))` plus the
    /// target's correction for the proposal (−∞ when the score is ≤ 0).
    pub log_score: f64,
}

/// Every view's next-token row at the prompt's end (known: these methods
/// take no first reads), where each whole answer starts.
pub(crate) fn prompt_rows<M: ViewModel>(m: &M) -> Vec<Vec<f32>> {
    (0..m.views()).map(|v| m.next(v).to_vec()).collect()
}

/// Draws one whole answer from the reference (reading back only its
/// candidates after each token), scores it with every expert in one call,
/// and puts the views back at the prompt's end (`start`). Counts its
/// tokens as proposed.
pub(crate) async fn propose_answer<M: ViewModel>(
    m: &mut M,
    aim: &Aim<'_>,
    start: &[Vec<f32>],
    limits: &Limits,
    rng: &mut ChaCha8Rng,
    out: &mut Outcome,
) -> Result<ScoredAnswer> {
    let n = aim.alpha.len();
    let mut resp = Vec::new();
    let mut ref_lp = Vec::new();
    let mut correction = 0.0;
    let mut top = None;
    loop {
        let p = draw_reference(m, top.as_ref(), aim.proposal, rng, &mut out.dense_rereads).await?;
        ref_lp.push(p.ref_lp);
        correction += p.correction(aim.target);
        resp.push(p.token);
        if p.token == limits.eos || resp.len() >= limits.max_tokens {
            break;
        }
        let read = m
            .append_mixed(&[(0, &[p.token])], &[reference_read(aim.proposal)])
            .await?;
        top = read.into_iter().next();
    }
    let items: Vec<(usize, &[u32])> = (1..=n).map(|v| (v, &resp[..])).collect();
    let scored = m.append(&items, Readout::Score).await?;
    let ratios: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..resp.len())
                .map(|t| {
                    let lp = if t == 0 {
                        start[i + 1][resp[0] as usize]
                    } else {
                        scored[i].scores[t - 1]
                    };
                    lp as f64 - ref_lp[t]
                })
                .collect()
        })
        .collect();
    let totals: Vec<f64> = ratios.iter().map(|r| r.iter().sum()).collect();
    out.proposed += resp.len() as u64;
    for (v, next) in start.iter().enumerate() {
        m.truncate(v, 0, next.clone())?;
    }
    Ok(ScoredAnswer {
        tokens: resp,
        ratios,
        log_score: log_score(aim.alpha, &totals) + correction,
    })
}

/// Streams a chosen whole answer, each token with its per-expert ratios
/// and their α-weighted sum as its reward.
pub(crate) fn emit_answer(
    answer: ScoredAnswer,
    alpha: &[f64],
    limits: &Limits,
    out: &mut Outcome,
    sink: &mut dyn FnMut(Event),
) {
    for (t, &tok) in answer.tokens.iter().enumerate() {
        let rewards: Vec<f64> = answer.ratios.iter().map(|r| r[t]).collect();
        let reward = rewards.iter().zip(alpha).map(|(r, a)| r * a).sum();
        sink(Event::Token {
            index: t,
            id: tok,
            text: String::new(),
            reward: Some(reward),
            rewards,
            top: vec![],
            chunk: None,
        });
        out.push(tok, limits);
    }
}

/// Seq-RS: whole responses from the reference, accepted on the whole
/// response's score against a bound. A fixed bound (`bound.fixed`, the
/// exact preset) is used as given, one answer drawn at a time. Otherwise
/// the bound is estimated across the tries (empirical-supremum rejection
/// sampling, Caffo, Booth & Davison 2002): all `max_tries` answers are
/// drawn, `log M = max S + log γ` over them, and they are tested in order.
/// None accepted: the best one, counted as forced.
pub(crate) async fn seq_rs<M: ViewModel>(
    m: &mut M,
    aim: Aim<'_>,
    bound_config: BoundConfig,
    max_tries: usize,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let start = prompt_rows(m);
    let mut out = Outcome::default();
    let mut pool: Vec<ScoredAnswer> = Vec::new();
    let mut fixed = bound_config
        .fixed
        .map(|_| Bound::new(bound_config, aim.alpha));
    let mut chosen = None;
    for _ in 0..max_tries.max(1) {
        let answer = propose_answer(m, &aim, &start, &limits, rng, &mut out).await?;
        if let Some(bound) = fixed.as_mut() {
            if bound.accepts(answer.log_score, log_uniform(rng)) {
                chosen = Some(answer);
                break;
            }
        }
        pool.push(answer);
    }
    let bound = match fixed {
        Some(bound) => bound,
        None => {
            let max = pool
                .iter()
                .map(|a| a.log_score)
                .fold(f64::NEG_INFINITY, f64::max);
            let estimated = BoundConfig {
                fixed: Some(max + bound_config.gamma.ln()),
                ..bound_config
            };
            let mut bound = Bound::new(estimated, aim.alpha);
            if let Some(i) = pool
                .iter()
                .position(|a| bound.accepts(a.log_score, log_uniform(rng)))
            {
                chosen = Some(pool.remove(i));
            }
            bound
        }
    };
    let answer = match chosen {
        Some(a) => a,
        None => {
            let best = (0..pool.len())
                .max_by(|&a, &b| {
                    pool[a]
                        .log_score
                        .total_cmp(&pool[b].log_score)
                        .then(b.cmp(&a))
                })
                .expect("at least one try");
            let b = pool.remove(best);
            out.forced_tokens += b.tokens.len() as u64;
            b
        }
    };
    out.rejected += pool.iter().map(|a| a.tokens.len() as u64).sum::<u64>();
    out.count_tests(&bound);
    emit_answer(answer, aim.alpha, &limits, &mut out, sink);
    Ok(out)
}

/// Token-RS: every token by the single-token rejection test.
pub(crate) struct TokenRs;

impl MpgSampler for TokenRs {
    fn describe(&self) -> &'static MethodInfo {
        static INFO: MethodInfo = mpg_info(
            "token-rs",
            "Token-RS",
            "Token-level rejection sampling toward the α-weighted expert mix, one token at a time.",
            "each token ∝ q(v) · min(1, R(v) / M), R(v) = max(0, Σ α_i π_i(v) / π_ref(v)) (target mpg: times π_ref(v) / q(v)); the token-level MPG target while no test exceeds the bound",
            &[],
            Probe::Proxy(SEQUENCE_TARGET_PROXY),
        );
        &INFO
    }

    fn first_reads(&self, cfg: &RunConfig) -> Vec<MixRead> {
        MpgAt::first_reads(&cfg.alpha(), &cfg.scr.in_force().proposal)
    }

    async fn decode<M: ViewModel>(&self, m: &mut M, cx: DecodeContext<'_>) -> Result<Outcome> {
        let s = cx.cfg.sampler(&cx.alpha);
        let mut bound = Bound::new(s.bound, &cx.alpha);
        token_rs(
            m,
            Aim::new(&cx.alpha, &s),
            &mut bound,
            s.max_fallback_tries,
            cx.limits,
            cx.rng,
            cx.sink,
        )
        .await
    }
}

/// Seq-RS: whole answers from the reference, accepted or rejected whole.
pub(crate) struct SeqRs;

/// Seq-RS takes no first reads: it starts from whole rows (every answer
/// restarts from the prompt's end).
impl MpgSampler for SeqRs {
    fn describe(&self) -> &'static MethodInfo {
        static INFO: MethodInfo = mpg_info(
            "seq-rs",
            "Seq-RS",
            "Sequence-level rejection sampling: whole proposed answers are accepted or rejected by the expert mix.",
            "whole answers ∝ q(y) · min(1, R(y) / M), M = γ · the largest R over the N tries drawn (empirical-supremum RS: the sequence-level MPG target as N grows), or a fixed bound",
            &[Knob::AnswerTries],
            Probe::ClosedForm,
        );
        &INFO
    }

    async fn decode<M: ViewModel>(&self, m: &mut M, cx: DecodeContext<'_>) -> Result<Outcome> {
        let s = cx.cfg.sampler(&cx.alpha);
        seq_rs(
            m,
            Aim::new(&cx.alpha, &s),
            s.bound,
            cx.cfg.max_seq_tries,
            cx.limits,
            cx.rng,
            cx.sink,
        )
        .await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use rand::SeedableRng;

    use super::super::bound::BoundConfig;
    use super::super::tabular::{assert_fits, TabularViews};
    use super::*;

    /// Reference and two experts over 4 tokens; the experts' tables depend on
    /// the previous token so that sequences are not products of marginals.
    pub fn table() -> super::super::tabular::Table {
        Box::new(|view: usize, seq: &[u32]| {
            let last = seq.last().copied().unwrap_or(0) as usize;
            let mut p = match view {
                0 => vec![0.4, 0.3, 0.2, 0.1],
                1 => vec![0.1, 0.2, 0.3, 0.4],
                _ => vec![0.25, 0.25, 0.25, 0.25],
            };
            if view > 0 {
                p[last] += 0.2;
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|x| x / s).collect()
        })
    }

    pub const ALPHA: [f64; 2] = [1.2, -0.4];
    pub const EXACT: Sampling = Sampling::TopP {
        temperature: 1.0,
        top_p: 1.0,
        seed: 0,
    };

    /// `max(0, Σ α_i Π_t p_i/p_ref)` of a continuation `c` after `prefix`.
    pub fn score(prefix: &[u32], c: &[u32]) -> f64 {
        let t = table();
        let mut ratio = [1f64; 2];
        let mut q = 1f64;
        let mut seq = prefix.to_vec();
        for &tok in c {
            let r = t(0, &seq)[tok as usize];
            q *= r;
            for (i, ratio) in ratio.iter_mut().enumerate() {
                *ratio *= t(i + 1, &seq)[tok as usize] / r;
            }
            seq.push(tok);
        }
        let _ = q;
        (ALPHA[0] * ratio[0] + ALPHA[1] * ratio[1]).max(0.0)
    }

    /// A true bound over every 1- and 2-token continuation from any prefix.
    pub fn true_log_m() -> f64 {
        let mut m = 0f64;
        for a in 0..4 {
            for b in 0..4 {
                for prefix in [vec![], vec![0], vec![1], vec![2], vec![3]] {
                    m = m.max(score(&prefix, &[a])).max(score(&prefix, &[a, b]));
                }
            }
        }
        (m * 1.01).ln()
    }

    pub fn q(prefix: &[u32], c: &[u32]) -> f64 {
        let t = table();
        let mut seq = prefix.to_vec();
        let mut p = 1.0;
        for &tok in c {
            p *= t(0, &seq)[tok as usize];
            seq.push(tok);
        }
        p
    }

    fn views() -> TabularViews {
        TabularViews::new(4, 3, table())
    }

    fn fixed_bound() -> BoundConfig {
        BoundConfig {
            fixed: Some(true_log_m()),
            ..BoundConfig::default()
        }
    }

    fn bound() -> Bound {
        Bound::new(fixed_bound(), &ALPHA)
    }

    pub fn aim(alpha: &[f64]) -> Aim<'_> {
        Aim {
            alpha,
            proposal: &EXACT,
            target: Target::Mpg,
        }
    }

    #[test]
    fn token_rs_samples_the_token_level_target() {
        let limits = Limits {
            max_tokens: 1,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut counts = [0u64; 4];
        for _ in 0..10_000 {
            let out = pollster::block_on(token_rs(
                &mut views(),
                aim(&ALPHA),
                &mut bound(),
                10_000,
                limits,
                &mut rng,
                &mut |_| {},
            ))
            .unwrap();
            assert_eq!(out.forced_tokens, 0);
            counts[out.tokens[0] as usize] += 1;
        }
        let target: Vec<f64> = (0..4).map(|a| q(&[], &[a]) * score(&[], &[a])).collect();
        assert_fits(&counts, &target, "Token-RS");
    }

    /// Seq-RS's two-token answers as counts per answer (`a * 4 + b`), each
    /// run's outcome checked by `check`.
    fn seq_rs_counts(
        bound: BoundConfig,
        tries: usize,
        draws: usize,
        seed: u64,
        check: impl Fn(&Outcome),
    ) -> [u64; 16] {
        let limits = Limits {
            max_tokens: 2,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = [0u64; 16];
        for _ in 0..draws {
            let out = pollster::block_on(seq_rs(
                &mut views(),
                aim(&ALPHA),
                bound,
                tries,
                limits,
                &mut rng,
                &mut |_| {},
            ))
            .unwrap();
            check(&out);
            counts[(out.tokens[0] * 4 + out.tokens[1]) as usize] += 1;
        }
        counts
    }

    /// The sequence-level target's weights of the 16 two-token answers.
    fn sequence_target() -> Vec<f64> {
        (0..16)
            .map(|i| q(&[], &[i / 4, i % 4]) * score(&[], &[i / 4, i % 4]))
            .collect()
    }

    #[test]
    fn seq_rs_samples_the_sequence_level_target() {
        let counts = seq_rs_counts(fixed_bound(), 100_000, 10_000, 12, |out| {
            assert_eq!(out.forced_tokens, 0)
        });
        assert_fits(&counts, &sequence_target(), "Seq-RS");
    }

    #[test]
    fn seq_rs_estimates_its_bound_over_its_tries() {
        // No fixed bound: every try is drawn, log M = max S + log γ over
        // them (empirical-supremum RS), the tries tested in order. With 64
        // tries the pool holds the highest-scoring answers, and the output
        // fits the sequence-level target.
        let counts = seq_rs_counts(BoundConfig::default(), 64, 6_000, 13, |out| {
            assert_eq!(out.proposed, 64 * 2, "every try is drawn");
            assert!(out.bound_tests >= 1 && out.bound_tests <= 64);
            assert_eq!(out.bound_violations, 0, "the bound is above every try");
        });
        let target = sequence_target();
        assert_fits(&counts, &target, "Seq-RS, estimated bound");
        // Two tries are not enough to leave the proposal's shape: the
        // estimate is only as good as its pool (the doc says so).
        let few = seq_rs_counts(BoundConfig::default(), 2, 6_000, 13, |_| {});
        let z: f64 = target.iter().sum();
        let probs: Vec<f64> = target.iter().map(|t| t / z).collect();
        let (stat, df) = super::super::tabular::chi_square(&few, &probs);
        assert!(
            stat > super::super::tabular::chi_square_critical_001(df),
            "chi2 {stat:.1}"
        );
    }

    #[test]
    fn all_negative_weights_end_in_forced_tokens_not_a_loop() {
        let limits = Limits {
            max_tokens: 5,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let out = pollster::block_on(token_rs(
            &mut views(),
            aim(&[-1.0, -1.0]),
            &mut bound(),
            16,
            limits,
            &mut rng,
            &mut |_| {},
        ))
        .unwrap();
        assert_eq!(out.tokens.len(), 5);
        assert_eq!(out.forced_tokens, 5);
        assert_eq!(out.proposed, 5 * 16);
    }
}
