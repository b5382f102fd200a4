//! Single-view decoding: Base (the plain system prompt) and PP (preference
//! prompting: the persona in the system prompt). One row, one forward per token.

use rand_chacha::ChaCha8Rng;

use super::common::{
    alternatives, alternatives_mixed, choose, decide, decision_read, Limits, Outcome,
};
use super::events::Event;
use super::view_model::ViewModel;
use crate::backend::{Mix, MixRead, Mixed};
use crate::engine::sampling::Sampling;
use crate::Result;

/// The read that decides the first token, asked for with the prefill.
pub fn first_reads(sampling: &Sampling) -> Vec<MixRead> {
    vec![decision_read(Mix::Row { row: 0 }, sampling)]
}

pub async fn decode<M: ViewModel>(
    m: &mut M,
    sampling: &Sampling,
    limits: Limits,
    rng: &mut ChaCha8Rng,
    sink: &mut dyn FnMut(Event),
) -> Result<Outcome> {
    let mut out = Outcome::default();
    // Steps after the first are decided from the row's candidates read
    // back (`decision_read`); the whole row only when a nucleus reaches
    // past them.
    let own = Mix::Row { row: 0 };
    let mut mixed: Option<Mixed> = m.take_first().and_then(|mut r| r.pop());
    loop {
        let decided = match mixed.take() {
            Some(mx) => match decide(&mx, sampling, rng) {
                Some((token, _)) => Some((token, alternatives_mixed(&mx, 0))),
                None => {
                    m.reread(&[0]).await?;
                    out.dense_rereads += 1;
                    None
                }
            },
            None => None,
        };
        let (token, top) = match decided {
            Some(d) => d,
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
        let read = decision_read(own.clone(), sampling);
        mixed = m.append_mixed(&[(0, &[token])], &[read]).await?.pop();
    }
}
