//! One decode step, shared by every method that decides one token at a
//! time from a mix of its views (Base, PP, Soups, MOD, PDD): decide where
//! the log-probs live (the mix's candidates read back with the step that
//! appended the last token), or from the views' whole rows when the nucleus
//! reaches past the candidates or nothing was read; emit the token with its
//! rewards and alternatives; append it to every view with the next read.
//! A method supplies only its rule (`StepRule`): which views, which mix,
//! the dense distribution, the token's rewards.

use rand_chacha::ChaCha8Rng;

use super::common::{
    alternatives, alternatives_mixed, choose, decide, decision_read, Limits, Outcome,
};
use super::events::{Alternative, Event};
use super::view_model::ViewModel;
use crate::backend::{Mix, Mixed};
use crate::engine::sampling::Sampling;
use crate::Result;

/// What a single-decision method decides with.
pub(super) trait StepRule {
    /// The views that take every token, in the mix's row order (row 0's
    /// log-probs are the "base" probabilities of the alternatives).
    fn views(&self) -> &[usize];
    /// The mix the next token is drawn from (read sparsely).
    fn mix(&self) -> Mix;
    /// The same distribution over the whole vocabulary from the views'
    /// rows (normalised log-probs).
    fn dense(&self, rows: &[&[f32]]) -> Vec<f64>;
    /// The chosen token's reward and per-view rewards from every view's
    /// log-prob of it (`at`, in `views` order); advances the rule's state.
    fn emitted(&mut self, at: &[f64]) -> (Option<f64>, Vec<f64>);
}

/// The decision of one step.
pub(super) struct Decided {
    pub token: u32,
    /// Every view's log-prob of the token, in the rule's `views` order.
    pub at: Vec<f64>,
    /// The steered distribution's best tokens (row 0's as the base).
    pub top: Vec<Alternative>,
}

/// One decoder's position between steps: the read that decides the next
/// token, when the last call took one.
pub(super) struct Stepper<R: StepRule> {
    pub rule: R,
    mixed: Option<Mixed>,
    /// Steps decided from whole rows because the nucleus reached past the
    /// candidates read back.
    pub dense_rereads: u64,
}

impl<R: StepRule> Stepper<R> {
    /// `first`: the first decision's read, when it was taken with the prefill.
    pub(super) fn new(rule: R, first: Option<Mixed>) -> Self {
        Self {
            rule,
            mixed: first,
            dense_rereads: 0,
        }
    }

    /// Decides the next token: from the read when it covers the draw, else
    /// from the views' whole rows (read again if needed).
    pub(super) async fn decide<M: ViewModel>(
        &mut self,
        m: &mut M,
        sampling: &Sampling,
        rng: &mut ChaCha8Rng,
    ) -> Result<Decided> {
        let n = self.rule.views().len();
        if let Some(mx) = self.mixed.take() {
            match decide(&mx, sampling, rng) {
                Some((token, j)) => {
                    let at = (0..n).map(|v| mx.at_top[v][j] as f64).collect();
                    let top = alternatives_mixed(&mx, 0);
                    return Ok(Decided { token, at, top });
                }
                None => {
                    m.reread(self.rule.views()).await?;
                    self.dense_rereads += 1;
                }
            }
        }
        let rows: Vec<Vec<f32>> = self
            .rule
            .views()
            .iter()
            .map(|&v| m.next(v).to_vec())
            .collect();
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let logp = self.rule.dense(&refs);
        let token = choose(&logp, sampling, rng);
        let at = rows.iter().map(|r| r[token as usize] as f64).collect();
        Ok(Decided {
            token,
            at,
            top: alternatives(&rows[0], &logp),
        })
    }

    /// Appends `token` to every view in one call, reading what decides the next.
    pub(super) async fn advance<M: ViewModel>(
        &mut self,
        m: &mut M,
        token: u32,
        sampling: &Sampling,
    ) -> Result<()> {
        let t = [token];
        let items: Vec<(usize, &[u32])> = self.rule.views().iter().map(|&v| (v, &t[..])).collect();
        let read = decision_read(self.rule.mix(), sampling);
        self.mixed = m.append_mixed(&items, &[read]).await?.pop();
        Ok(())
    }
}

/// Decodes one answer step by step with `rule`; `first`: the first
/// decision's read, when it was taken with the prefill.
pub(super) async fn decode_steps<M: ViewModel, R: StepRule>(
    m: &mut M,
    rule: R,
    first: Option<Mixed>,
    sampling: &Sampling,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let mut out = Outcome::default();
    let mut step = Stepper::new(rule, first);
    loop {
        let d = step.decide(m, sampling, rng).await?;
        out.dense_rereads = step.dense_rereads;
        let (reward, rewards) = step.rule.emitted(&d.at);
        sink(Event::Token {
            index: out.tokens.len(),
            id: d.token,
            text: String::new(),
            reward,
            rewards,
            top: d.top,
            chunk: None,
        });
        if out.push(d.token, &limits) {
            return Ok(out);
        }
        step.advance(m, d.token, sampling).await?;
    }
}
