//! Single-view decoding: Base (the plain system prompt) and PP (preference
//! prompting: the persona in the system prompt). One row, one forward per token.

use rand_chacha::ChaCha8Rng;

use super::common::{alternatives, choose, Limits, Outcome};
use super::events::Event;
use super::view_model::ViewModel;
use crate::backend::Readout;
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
    loop {
        let lp = m.next(0).to_vec();
        let logp: Vec<f64> = lp.iter().map(|&v| v as f64).collect();
        let token = choose(&logp, sampling, rng);
        sink(Event::Token {
            index: out.tokens.len(),
            id: token,
            text: String::new(),
            reward: None,
            rewards: vec![],
            top: alternatives(&lp, &logp),
            chunk: None,
        });
        if out.push(token, &limits) {
            return Ok(out);
        }
        m.append(&[(0, &[token])], Readout::Last).await?;
    }
}
