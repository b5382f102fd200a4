//! Single-view decoding: Base (the plain system prompt) and PP (preference
//! prompting: the persona in the system prompt). One row, one forward per token.

use rand_chacha::ChaCha8Rng;

use super::common::{alternatives, alternatives_mixed, choose, Limits, Outcome, ALTERNATIVES};
use super::events::Event;
use super::view_model::ViewModel;
use crate::backend::{Mix, Mixed, Readout};
use crate::engine::sampling::Sampling;
use crate::Result;

pub async fn decode<M: ViewModel>(
    m: &mut M,
    sampling: &Sampling,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let mut out = Outcome::default();
    // Greedy steps after the first read back only the best tokens (a
    // one-row mix is the row's own distribution).
    let greedy = *sampling == Sampling::Greedy;
    let own = Mix::Linear { weights: vec![1.0] };
    let mut mixed: Option<Mixed> = None;
    loop {
        let (token, top) = match mixed.take() {
            Some(mx) => (mx.top[0].0, alternatives_mixed(&mx, 0)),
            None => {
                let lp = m.next(0).to_vec();
                let logp: Vec<f64> = lp.iter().map(|&v| v as f64).collect();
                (choose(&logp, sampling, rng), alternatives(&lp, &logp))
            }
        };
        sink(Event::Token {
            index: out.tokens.len(),
            id: token,
            text: String::new(),
            reward: None,
            rewards: vec![],
            top,
            chunk: None,
        });
        if out.push(token, &limits) {
            return Ok(out);
        }
        if greedy {
            mixed = Some(m.append_mixed(&[(0, &[token])], &own, ALTERNATIVES).await?);
        } else {
            m.append(&[(0, &[token])], Readout::Last).await?;
        }
    }
}
