//! PDD — Persona Dynamic Decoding (PDD paper; ALGORITHMS.md "PDD"): PIE
//! importance from leave-one-out prompts, top-K selection, per-token
//! two-step rewards, L2 normalisation and `exp(R/β)` reweighting.
//! Views: 0 is `T` (all attributes), `1 + i` is `T_i` (attribute i removed).

use rand_chacha::ChaCha8Rng;

use super::common::{Limits, Outcome};
use super::config::RunConfig;
use super::events::Event;
use super::method::{
    DecodeContext, DecodingMethod, Experts, Knob, MethodInfo, Probe, ProbeCompletions, Rewards,
};
use super::mutation::{active, Mutation};
use super::step::{decode_steps, StepRule};
use super::teacher_forced::score_completions;
use super::validate::invalid;
use super::view_model::{ViewModel, ViewSpec};
use super::views::ViewPrompts;
use crate::backend::{pdd_reward, Mix, MixRead, Mixed, Readout};
use crate::engine::memo::Importance;
use crate::engine::sampling::argmax;
use crate::{Error, Result};

pub(crate) use super::config::PddConfig;

/// Indices of the K largest values (ties: lower index first).
pub(crate) fn select_top_k(importance: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..importance.len()).collect();
    idx.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// `R(v) = Σ_i w_i r_i(v) / ‖r(v)‖₂` with `r_i(v) = δ_i + log π(v|T) − log π(v|T_i)`,
/// `R = 0` when `‖r‖₂ < 1e-6`; `p(v) ∝ π(v|T) exp(R(v)/β)`.
pub(crate) fn reweight(
    full: &[f32],
    loo: &[&[f32]],
    delta: &[f64],
    weights: &[f64],
    beta: f64,
) -> Vec<f64> {
    let mut rows = vec![full];
    rows.extend_from_slice(loo);
    Mix::Pdd {
        weights: weights.to_vec(),
        delta: delta.to_vec(),
        beta,
    }
    .logp(&rows)
}

/// PIE (step 1): `G` greedily under `T` (view 0), scored under every `T_i`
/// (views 1..=n) in one call; returns `I_i = log P(G|T) − log P(G|T_i)` and
/// `G`. The views are rolled back to where they started. Both depend only
/// on the views' prompts and `pie_tokens`: taken at the prompts' end, they
/// are kept across runs (a β, K or slider re-run generates no PIE token).
pub(crate) async fn pie<M: ViewModel>(
    m: &mut M,
    n: usize,
    pie_tokens: usize,
    eos: u32,
) -> Result<(Vec<f64>, Vec<u32>)> {
    let at_prompt_end = (0..=n).all(|v| m.len(v) == 0);
    if at_prompt_end {
        if let Some(kept) = m.recall_importance(pie_tokens) {
            return Ok((kept.raw, kept.answer));
        }
    }
    let all: Vec<usize> = (0..=n).collect();
    m.ensure(&all).await?;
    let (raw, g) = pie_uncached(m, n, pie_tokens, eos).await?;
    if at_prompt_end {
        let kept = Importance {
            raw: raw.clone(),
            answer: g.clone(),
        };
        m.keep_importance(pie_tokens, kept);
    }
    Ok((raw, g))
}

async fn pie_uncached<M: ViewModel>(
    m: &mut M,
    n: usize,
    pie_tokens: usize,
    eos: u32,
) -> Result<(Vec<f64>, Vec<u32>)> {
    let start: Vec<Vec<f32>> = (0..=n).map(|v| m.next(v).to_vec()).collect();
    let base = m.len(0);
    let mut g = Vec::new();
    let mut lp_t = 0f64;
    // After the first token only the best one comes back (a one-row mix is
    // the row's own distribution).
    let own = Mix::Linear { weights: vec![1.0] };
    let mut best: Option<Mixed> = None;
    while g.len() < pie_tokens.max(1) {
        let (tok, lp) = match best.take() {
            Some(mx) => (mx.top[0].0, mx.at_top[0][0]),
            None => {
                let lp = m.next(0);
                let tok = argmax(lp);
                (tok, lp[tok as usize])
            }
        };
        lp_t += lp as f64;
        g.push(tok);
        if tok == eos || g.len() == pie_tokens.max(1) {
            break;
        }
        best = Some(
            m.append_mixed(&[(0, &[tok])], &[MixRead::top(own.clone(), 1)])
                .await?
                .remove(0),
        );
    }
    let items: Vec<(usize, &[u32])> = (1..=n).map(|v| (v, &g[..])).collect();
    let scored = m.append(&items, Readout::Score).await?;
    let raw: Vec<f64> = (0..n)
        .map(|i| {
            let first = start[i + 1][g[0] as usize] as f64;
            let lp_ti: f64 = first + scored[i].scores.iter().map(|&x| x as f64).sum::<f64>();
            lp_t - lp_ti
        })
        .collect();
    for (v, next) in start.into_iter().enumerate() {
        m.truncate(v, base, next)?;
    }
    Ok((raw, g))
}

/// Step 2: the weights the decoder uses (scaled PIE, or the sliders) and the
/// selected attributes (top-K, or every non-zero slider).
pub(crate) fn weights_and_selection(
    raw: &[f64],
    cfg: &PddConfig,
) -> Result<(Vec<f64>, Vec<usize>)> {
    let n = raw.len();
    Ok(match &cfg.weights {
        Some(w) => {
            if w.len() != n {
                return Err(Error::InvalidInput(format!(
                    "{} importance weights for {n} attributes",
                    w.len()
                )));
            }
            (w.clone(), (0..n).filter(|&i| w[i] != 0.0).collect())
        }
        None => {
            let l1: f64 = raw.iter().map(|x| x.abs()).sum();
            let w: Vec<f64> = if cfg.unit_importance && l1 > 0.0 {
                raw.iter().map(|x| x / l1).collect()
            } else {
                raw.to_vec()
            };
            let sel = select_top_k(&w, cfg.top_k);
            (w, sel)
        }
    })
}

pub(crate) async fn decode<M: ViewModel>(
    m: &mut M,
    attributes: &[String],
    cfg: &PddConfig,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let n = attributes.len();
    if m.views() != n + 1 {
        return Err(Error::InvalidInput(format!(
            "PDD needs {} views (T and one per attribute), got {}",
            n + 1,
            m.views()
        )));
    }
    let (raw, g) = pie(m, n, cfg.pie_tokens, limits.eos).await?;
    let (weights, selected) = weights_and_selection(&raw, cfg)?;
    sink(Event::Importance {
        attributes: attributes.to_vec(),
        raw,
        weights: weights.clone(),
        selected: selected.clone(),
        pie_tokens: g,
        pie_text: String::new(),
    });

    // 3-6. Decode with 1 + |selected| rows per step.
    let rule = Reweighting {
        views: std::iter::once(0)
            .chain(selected.iter().map(|&i| i + 1))
            .collect(),
        weights: selected.iter().map(|&i| weights[i]).collect(),
        delta: vec![0f64; selected.len()],
        beta: cfg.beta,
    };
    // With the importance kept, the attributes left out are never read.
    m.ensure(&rule.views).await?;
    decode_steps(m, rule, None, &cfg.sampling, limits, rng, sink).await
}

/// Steps 3-6: `T` and the selected `T_i`, each token reweighted by
/// `exp(R/β)`; δ carries the plain log-ratios of the emitted token (the
/// two-step window).
struct Reweighting {
    views: Vec<usize>,
    weights: Vec<f64>,
    delta: Vec<f64>,
    beta: f64,
}

impl StepRule for Reweighting {
    fn views(&self) -> &[usize] {
        &self.views
    }

    fn mix(&self) -> Mix {
        Mix::Pdd {
            weights: self.weights.clone(),
            delta: self.delta.clone(),
            beta: self.beta,
        }
    }

    fn dense(&self, rows: &[&[f32]]) -> Vec<f64> {
        reweight(rows[0], &rows[1..], &self.delta, &self.weights, self.beta)
    }

    fn emitted(&mut self, at: &[f64]) -> (Option<f64>, Vec<f64>) {
        let (full_at, loo_at) = (at[0], &at[1..]);
        let reward = pdd_reward(full_at, |i| loo_at[i], &self.delta, &self.weights);
        let rewards = loo_at
            .iter()
            .zip(&self.delta)
            .map(|(l, d)| d + full_at - l)
            .collect();
        self.delta = loo_at
            .iter()
            .map(|l| full_at - l)
            .map(|d| if active(Mutation::PddNoDelta) { 0.0 } else { d })
            .collect();
        (Some(reward), rewards)
    }
}

/// PDD: the persona's full prompt and one leave-one-out prompt per attribute.
pub(crate) struct Pdd;

impl DecodingMethod for Pdd {
    fn info(&self) -> &'static MethodInfo {
        &MethodInfo {
            name: "pdd",
            label: "PDD",
            help: "Persona-driven decoding: measures which attributes matter (PIE), then favours tokens that depend on the top-K of them.",
            samples: "p(v) ∝ π(v | T) · exp(R(v) / β), R(v) = Σ w_i r_i(v) / ‖r(v)‖, r_i(v) = δ_i + log π(v | T) − log π(v | T_i), δ_i the previous token's log-ratio; greedy by default",
            persona: true,
            experts: Experts::None,
            reference: false,
            random_proposals: false,
            knobs: &[Knob::Beta, Knob::TopK, Knob::ImportanceWeights],
            importance: true,
            rewards: Rewards::PerAttribute,
            plain_chat: false,
            probe: Probe::ClosedForm,
        }
    }

    fn validate(&self, cfg: &RunConfig) -> Result<()> {
        let n = cfg.persona.as_ref().map_or(0, |p| p.attributes.len());
        let c = &cfg.pdd;
        if !(c.beta.is_finite() && c.beta > 0.0) {
            return Err(invalid(format!(
                "β must be a positive number, got {}",
                c.beta
            )));
        }
        if c.top_k == 0 || c.top_k > n {
            return Err(invalid(format!(
                "K = {} but the persona has {n} attributes; choose 1..={n}",
                c.top_k
            )));
        }
        if c.pie_tokens == 0 {
            return Err(invalid("the PIE answer needs at least 1 token"));
        }
        if let Some(w) = &c.weights {
            if w.len() != n || w.iter().any(|x| !x.is_finite()) {
                return Err(invalid(format!(
                    "importance weights: {n} finite numbers expected, got {w:?}"
                )));
            }
            if w.iter().all(|x| *x == 0.0) {
                return Err(invalid(
                    "all importance weights are zero: nothing to steer toward",
                ));
            }
        }
        Ok(())
    }

    fn reads_some_views(&self) -> bool {
        true
    }

    fn view_count(&self, cfg: &RunConfig) -> usize {
        1 + cfg.persona.as_ref().map_or(0, |p| p.attributes.len())
    }

    fn views(&self, cfg: &RunConfig, p: &ViewPrompts) -> Result<Vec<ViewSpec>> {
        let mut v = vec![p.persona()?];
        for i in 0..self.view_count(cfg) - 1 {
            v.push(p.persona_without(i)?);
        }
        Ok(v)
    }

    async fn decode<M: ViewModel>(&self, m: &mut M, cx: DecodeContext<'_>) -> Result<Outcome> {
        let attributes = &cx.cfg.persona.as_ref().expect("validated").attributes;
        let pdd = PddConfig {
            sampling: cx.cfg.sampling,
            ..cx.cfg.pdd.clone()
        };
        decode(m, attributes, &pdd, cx.limits, cx.rng, cx.sink).await
    }

    /// Σ_t log p_PDD(y_t): importance from PIE once per prompt, then the
    /// reweighted distribution at every completion token (whole rows: PDD
    /// renormalises over the vocabulary), δ following the completion.
    async fn probe<M: ViewModel>(
        &self,
        cfg: &RunConfig,
        m: &mut M,
        item: ProbeCompletions<'_>,
    ) -> Result<[f64; 2]> {
        let (raw, _) = pie(m, m.views() - 1, cfg.pdd.pie_tokens, item.eos).await?;
        let all: Vec<usize> = (0..m.views()).collect();
        m.ensure(&all).await?;
        let (weights, selected) = weights_and_selection(&raw, &cfg.pdd)?;
        let w: Vec<f64> = selected.iter().map(|&i| weights[i]).collect();
        score_completions(m, &item, true, |f, ids| {
            let mut ll = 0.0;
            let mut delta = vec![0f64; selected.len()];
            for t in 0..ids.len() {
                let full = &f.dists[0][t];
                let loo: Vec<&[f32]> = selected
                    .iter()
                    .map(|&i| f.dists[i + 1][t].as_slice())
                    .collect();
                let logp = reweight(full, &loo, &delta, &w, cfg.pdd.beta);
                ll += logp[ids[t] as usize];
                delta = loo
                    .iter()
                    .map(|l| full[ids[t] as usize] as f64 - l[ids[t] as usize] as f64)
                    .collect();
            }
            ll
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::super::mutation;
    use super::super::tabular::{chi_square, chi_square_critical_001, TabularViews};
    use super::*;
    use crate::engine::sampling::Sampling;

    #[test]
    fn reweighting_equals_the_closed_form_by_hand() {
        // π(·|T) = (0.5, 0.3, 0.2); π(·|T_1) = (0.2, 0.3, 0.5); π(·|T_2) = (0.5, 0.4, 0.1).
        let full: Vec<f32> = [0.5f32, 0.3, 0.2].iter().map(|p| p.ln()).collect();
        let t1: Vec<f32> = [0.2f32, 0.3, 0.5].iter().map(|p| p.ln()).collect();
        let t2: Vec<f32> = [0.5f32, 0.4, 0.1].iter().map(|p| p.ln()).collect();
        let (w, delta, beta) = ([0.7, 0.3], [0.1, -0.2], 0.5);
        let logp = reweight(&full, &[&t1, &t2], &delta, &w, beta);
        let loo = [&t1, &t2];
        let reward = |v: usize| pdd_reward(full[v] as f64, |i| loo[i][v] as f64, &delta, &w);
        // By hand: r_i(v) = δ_i + ln π(v|T) − ln π(v|T_i); R = w·r/|r|; p ∝ π e^{R/β}.
        let pt = [0.5f64, 0.3, 0.2];
        let (p1, p2) = ([0.2f64, 0.3, 0.5], [0.5f64, 0.4, 0.1]);
        let mut expect = [0f64; 3];
        for v in 0..3 {
            let r1 = 0.1 + (pt[v] / p1[v]).ln();
            let r2 = -0.2 + (pt[v] / p2[v]).ln();
            let big_r = (0.7 * r1 + 0.3 * r2) / (r1 * r1 + r2 * r2).sqrt();
            assert!((reward(v) - big_r).abs() < 1e-6, "R({v})");
            expect[v] = pt[v] * (big_r / 0.5).exp();
        }
        let z: f64 = expect.iter().sum();
        for (v, (lp, e)) in logp.iter().zip(&expect).enumerate() {
            assert!(
                (lp.exp() - e / z).abs() < 1e-6,
                "p({v}) {} vs {}",
                lp.exp(),
                e / z
            );
        }
        // Cauchy–Schwarz: R <= |w|.
        assert!((0..3).all(|v| reward(v) <= (0.7f64 * 0.7 + 0.3 * 0.3).sqrt() + 1e-9));
    }

    #[test]
    fn zero_norm_reward_leaves_the_base_distribution() {
        let full: Vec<f32> = [0.6f32, 0.4].iter().map(|p| p.ln()).collect();
        let logp = reweight(&full, &[&full], &[0.0], &[1.0], 1.0);
        let reward = |v: usize| pdd_reward(full[v] as f64, |_| full[v] as f64, &[0.0], &[1.0]);
        assert_eq!([reward(0), reward(1)], [0.0, 0.0]);
        assert!((logp[0].exp() - 0.6).abs() < 1e-6);
    }

    #[test]
    fn top_k_selection_breaks_ties_by_lower_index() {
        assert_eq!(select_top_k(&[1.0, 3.0, 3.0, 2.0], 2), vec![1, 2]);
        assert_eq!(select_top_k(&[0.5, 0.5, 0.5], 2), vec![0, 1]);
        assert_eq!(select_top_k(&[-1.0, -3.0, 0.0], 1), vec![2]);
    }

    /// Three attributes; attribute 1 changes the distribution most, attribute
    /// 2 not at all: PIE must rank them so and equal the hand-computed sums.
    fn table() -> super::super::tabular::Table {
        Box::new(|view: usize, _seq: &[u32]| match view {
            0 => vec![0.7, 0.2, 0.1],
            1 => vec![0.5, 0.3, 0.2],
            2 => vec![0.2, 0.4, 0.4],
            _ => vec![0.7, 0.2, 0.1],
        })
    }

    #[test]
    fn pie_importance_and_decoding_on_a_tabular_model() {
        let attributes: Vec<String> = ["A: a", "B: b", "C: c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut views = TabularViews::new(3, 4, table());
        let cfg = PddConfig {
            pie_tokens: 3,
            unit_importance: false,
            top_k: 2,
            ..PddConfig::default()
        };
        let limits = Limits {
            max_tokens: 4,
            eos: 99,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut events = Vec::new();
        let out = pollster::block_on(decode(
            &mut views,
            &attributes,
            &cfg,
            limits,
            &mut rng,
            &mut |e| events.push(e),
        ))
        .unwrap();
        let Event::Importance {
            raw,
            selected,
            pie_tokens,
            ..
        } = &events[0]
        else {
            panic!("importance first")
        };
        // G = three greedy tokens under T: 0, 0, 0; I_i = 3 ln(0.7 / π_i(0)).
        assert_eq!(pie_tokens, &vec![0, 0, 0]);
        let want = [3.0 * (0.7f64 / 0.5).ln(), 3.0 * (0.7f64 / 0.2).ln(), 0.0];
        for i in 0..3 {
            assert!(
                (raw[i] - want[i]).abs() < 1e-5,
                "I_{i} = {} vs {}",
                raw[i],
                want[i]
            );
        }
        assert_eq!(selected, &vec![1, 0]);
        assert_eq!(out.tokens.len(), 4);
        // Rows per step: T plus the two selected; the unselected view never moves.
        assert_eq!(views.len(3), 0);
        assert_eq!(views.len(0), 3);
        // Greedy on the closed form: token 0 has R = (I_1 r_1 + I_0 r_0)/|r| > 0 with
        // r > 0 for both, the others have negative rewards: 0 stays the argmax.
        assert!(out.tokens.iter().all(|&t| t == 0));
        // Calls: 2 for G (third token needs no forward), 1 to score G, then 3 decode steps.
        assert_eq!(views.cost().forward_calls, 2 + 1 + 3);
    }

    #[test]
    fn slider_weights_replace_pie_and_select_non_zero() {
        let attributes: Vec<String> = ["A: a", "B: b", "C: c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut views = TabularViews::new(3, 4, table());
        let cfg = PddConfig {
            pie_tokens: 2,
            weights: Some(vec![0.0, 0.0, 2.0]),
            ..PddConfig::default()
        };
        let mut events = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        pollster::block_on(decode(
            &mut views,
            &attributes,
            &cfg,
            Limits {
                max_tokens: 2,
                eos: 99,
            },
            &mut rng,
            &mut |e| events.push(e),
        ))
        .unwrap();
        let Event::Importance {
            selected, weights, ..
        } = &events[0]
        else {
            panic!()
        };
        assert_eq!(selected, &vec![2]);
        assert_eq!(weights, &vec![0.0, 0.0, 2.0]);
    }

    /// Views whose distributions depend on the last token, so that the
    /// two-step window's δ changes what PDD samples.
    fn context_table() -> super::super::tabular::Table {
        Box::new(|view: usize, seq: &[u32]| {
            let last = seq.last().map(|&t| t as usize);
            let mut p = match view {
                0 => vec![0.4, 0.35, 0.25],
                1 => vec![0.2, 0.5, 0.3],
                2 => vec![0.5, 0.2, 0.3],
                _ => vec![0.3, 0.3, 0.4],
            };
            if let Some(l) = last {
                p[(l + view) % 3] += 0.6;
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|x| x / s).collect()
        })
    }

    /// PDD's sampled distribution over 3 tokens, by hand from the formulas
    /// (weights w, β): r_i(v) = δ_i + ln π(v|T) − ln π(v|T_i), δ_i the
    /// previous token's ln π(y|T) − ln π(y|T_i), R = w·r/‖r‖,
    /// p(v) ∝ π(v|T) e^{R/β}.
    fn pdd_by_hand(w: &[f64], beta: f64) -> Vec<f64> {
        let t = context_table();
        let lp = |view: usize, seq: &[u32], v: u32| ((t(view, seq)[v as usize]).ln() as f32) as f64;
        (0..27u32)
            .map(|i| {
                let y = [i / 9, i / 3 % 3, i % 3];
                let mut delta = [0.0; 2];
                let mut p = 1.0;
                for step in 0..3 {
                    let seq = &y[..step];
                    let weights: Vec<f64> = (0..3u32)
                        .map(|v| {
                            let r: Vec<f64> = (0..2)
                                .map(|a| delta[a] + lp(0, seq, v) - lp(a + 1, seq, v))
                                .collect();
                            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
                            let big_r = if norm < 1e-6 {
                                0.0
                            } else {
                                (w[0] * r[0] + w[1] * r[1]) / norm
                            };
                            lp(0, seq, v).exp() * (big_r / beta).exp()
                        })
                        .collect();
                    p *= weights[y[step] as usize] / weights.iter().sum::<f64>();
                    for (a, d) in delta.iter_mut().enumerate() {
                        *d = lp(0, seq, y[step]) - lp(a + 1, seq, y[step]);
                    }
                }
                p
            })
            .collect()
    }

    fn pdd_counts(draws: usize, seed: u64) -> Vec<u64> {
        let attributes: Vec<String> = ["A: a", "B: b", "C: c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let cfg = PddConfig {
            pie_tokens: 1,
            weights: Some(vec![1.5, -0.8, 0.0]),
            beta: 0.5,
            sampling: Sampling::TopP {
                temperature: 1.0,
                top_p: 1.0,
                seed: 0,
            },
            ..PddConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = vec![0u64; 27];
        for _ in 0..draws {
            let out = pollster::block_on(decode(
                &mut TabularViews::new(3, 4, context_table()),
                &attributes,
                &cfg,
                Limits {
                    max_tokens: 3,
                    eos: 99,
                },
                &mut rng,
                &mut |_| {},
            ))
            .unwrap();
            let t = &out.tokens;
            counts[(t[0] * 9 + t[1] * 3 + t[2]) as usize] += 1;
        }
        counts
    }

    #[test]
    fn sampled_pdd_follows_its_closed_form_with_the_two_step_window() {
        // Sparse mixed reads (Mix::Pdd, every candidate read back), δ
        // following the sampled tokens; δ ≡ 0 must fail the same test.
        let exact = pdd_by_hand(&[1.5, -0.8], 0.5);
        let draws = 30_000;
        let (stat, df) = chi_square(&pdd_counts(draws, 51), &exact);
        println!("chi2 PDD: {stat:.1} on {df} df");
        assert!(
            stat < chi_square_critical_001(df),
            "chi2 {stat:.1} on {df} df"
        );
        let mutated = mutation::with(Mutation::PddNoDelta, || pdd_counts(draws, 52));
        let (stat, df) = chi_square(&mutated, &exact);
        println!("chi2 PDD, delta = 0: {stat:.1} on {df} df");
        assert!(
            stat > chi_square_critical_001(df),
            "δ ≡ 0 passed: chi2 {stat:.1}"
        );
    }
}
