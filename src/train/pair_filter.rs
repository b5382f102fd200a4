//! Which generated preference pairs to keep, and the card that says how a
//! pair file was made (issue "Steering you can see", point 1).
//!
//! A pair teaches an adapter the axis only when its two answers differ in
//! the axis and not in content or quality, so pairs are dropped, in this
//! order, when an answer loops (word-trigram repetition), repeats an earlier
//! answer or its partner, reads badly under its own pole (mean log-prob per
//! token below a floor: the contrastive push went too far), drifted off its
//! question (the plain model finds it hardly likelier after its own question
//! than after an unrelated one: `pole_sampler::relevance`), or when the
//! pair's pole margin is small (the chosen answer's log π_first/π_second
//! minus the rejected answer's, per token). Prompts that are probe items
//! never reach generation ([`without_probe_prompts`]).

use std::collections::HashSet;

use crate::train::answer_text::repetition;
use crate::train::pairs::ScoredPair;

/// The thresholds a pair must pass.
#[derive(Debug, Clone, Copy)]
pub struct Selection {
    pub max_repetition: f64,
    /// Nats per token, each answer under its own pole.
    pub min_fluency: f64,
    /// Nats per token, each answer ([`ScoredPair::relevance`]).
    pub min_relevance: f64,
    /// Nats per token ([`ScoredPair::margin`]).
    pub min_margin: f64,
}

/// How many pairs each rule dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dropped {
    pub repetitive: usize,
    pub duplicate: usize,
    pub disfluent: usize,
    pub drifted: usize,
    pub weak_margin: usize,
}

impl Dropped {
    pub fn total(&self) -> usize {
        self.repetitive + self.duplicate + self.disfluent + self.drifted + self.weak_margin
    }
}

/// The pairs that pass `selection`, in order, and what was dropped.
pub fn select(pairs: Vec<ScoredPair>, selection: &Selection) -> (Vec<ScoredPair>, Dropped) {
    let mut dropped = Dropped::default();
    let mut seen = HashSet::new();
    let mut kept = Vec::with_capacity(pairs.len());
    for p in pairs {
        let (c, r) = (
            normalise(p.pair.chosen_text()),
            normalise(p.pair.rejected_text()),
        );
        let repeated = c == r || seen.contains(&c) || seen.contains(&r);
        match rule(&p, selection, repeated) {
            Some("repetitive") => dropped.repetitive += 1,
            Some("duplicate") => dropped.duplicate += 1,
            Some("disfluent") => dropped.disfluent += 1,
            Some("drifted") => dropped.drifted += 1,
            Some(_) => dropped.weak_margin += 1,
            None => {
                seen.insert(c);
                seen.insert(r);
                kept.push(p);
            }
        }
    }
    (kept, dropped)
}

/// "kept", or the first rule that drops the pair on its own (duplicates
/// need the pairs before it: see [`select`]).
pub fn verdict(pair: &ScoredPair, selection: &Selection) -> &'static str {
    let c = normalise(pair.pair.chosen_text());
    let same = c == normalise(pair.pair.rejected_text());
    rule(pair, selection, same).unwrap_or("kept")
}

/// The first rule, in the header's order, that drops `p`.
fn rule(p: &ScoredPair, selection: &Selection, repeated: bool) -> Option<&'static str> {
    if repetition(&p.chosen.text) > selection.max_repetition
        || repetition(&p.rejected.text) > selection.max_repetition
    {
        Some("repetitive")
    } else if repeated {
        Some("duplicate")
    } else if p.chosen.mean_own() < selection.min_fluency
        || p.rejected.mean_own() < selection.min_fluency
    {
        Some("disfluent")
    } else if p.relevance.iter().any(|&r| r < selection.min_relevance) {
        Some("drifted")
    } else if p.margin() < selection.min_margin {
        Some("weak margin")
    } else {
        None
    }
}

/// `prompts` without those that are (up to case, spacing and punctuation)
/// the prompt of a probe item, and how many were removed.
pub fn without_probe_prompts(prompts: Vec<String>, probe: &[String]) -> (Vec<String>, usize) {
    let probe: HashSet<String> = probe.iter().map(|p| normalise(p)).collect();
    let before = prompts.len();
    let kept: Vec<String> = prompts
        .into_iter()
        .filter(|p| !probe.contains(&normalise(p)))
        .collect();
    let removed = before - kept.len();
    (kept, removed)
}

/// Lower-case words of letters and digits, single-spaced.
fn normalise(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Mean and the 10th, 50th and 90th percentiles of `values`.
pub fn summary(values: &[f64]) -> Option<(f64, f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    Some((mean, at(0.1), at(0.5), at(0.9)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::pairs::Pair;
    use crate::train::pole_sampler::Sampled;

    fn answer(text: &str, own: f64, other: f64) -> Sampled {
        Sampled {
            text: text.into(),
            ids: (0..10).collect(),
            tokens: 10,
            own_logprob: own * 10.0,
            other_logprob: other * 10.0,
        }
    }

    fn pair(user: &str, c: Sampled, r: Sampled) -> ScoredPair {
        ScoredPair {
            pair: Pair::new(user, &c.text, &r.text),
            chosen: c,
            rejected: r,
            relevance: [1.0, 1.0],
        }
    }

    #[test]
    fn each_rule_drops_what_it_names_and_keeps_the_rest() {
        let selection = Selection {
            max_repetition: 0.25,
            min_fluency: -3.0,
            min_relevance: 0.2,
            min_margin: 0.5,
        };
        let pairs = vec![
            // kept: margin (−1 − −2) + (−1.5 − −2) = 1.5
            pair(
                "a",
                answer("Call friends over.", -1.0, -2.0),
                answer("Read alone.", -1.5, -2.0),
            ),
            pair(
                "b",
                answer("Go go go go go go go go go go", -1.0, -3.0),
                answer("Stay in.", -1.0, -2.0),
            ),
            // the same chosen answer as the first pair (case and punctuation aside)
            pair(
                "c",
                answer("call friends over", -1.0, -2.0),
                answer("Nap.", -1.0, -2.0),
            ),
            pair(
                "d",
                answer("Party tonight.", -3.5, -6.0),
                answer("Quiet tea.", -1.0, -2.0),
            ),
            // margin (−1 − −1.2) + (−1 − −1.1) = 0.3
            pair(
                "e",
                answer("Meet people.", -1.0, -1.2),
                answer("Walk slowly.", -1.0, -1.1),
            ),
            ScoredPair {
                relevance: [0.5, 0.1],
                ..pair(
                    "f",
                    answer("Beach party!", -1.0, -2.0),
                    answer("Sea.", -1.0, -2.0),
                )
            },
        ];
        let (kept, dropped) = select(pairs, &selection);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].pair.user(), "a");
        assert!((kept[0].margin() - 1.5).abs() < 1e-12);
        assert_eq!(
            dropped,
            Dropped {
                repetitive: 1,
                duplicate: 1,
                disfluent: 1,
                drifted: 1,
                weak_margin: 1
            }
        );
        assert_eq!(dropped.total(), 5);
    }

    #[test]
    fn probe_prompts_are_removed_up_to_case_and_punctuation() {
        let prompts = vec![
            "I have a free Saturday coming up. Any ideas?".to_string(),
            "How do I fly a kite?".to_string(),
        ];
        let probe = vec!["i have a free saturday coming up  any ideas".to_string()];
        let (kept, removed) = without_probe_prompts(prompts, &probe);
        assert_eq!(kept, vec!["How do I fly a kite?".to_string()]);
        assert_eq!(removed, 1);
    }

    #[test]
    fn summary_gives_mean_and_deciles() {
        let v: Vec<f64> = (0..11).map(f64::from).collect();
        assert_eq!(summary(&v), Some((5.0, 1.0, 5.0, 9.0)));
        assert_eq!(summary(&[]), None);
    }
}
