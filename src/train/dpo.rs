//! Direct Preference Optimisation of a LoRA adapter (Rafailov et al. 2023;
//! the MPG paper §4.1 trains its experts this way with β = 0.1): the loss of
//! a pair is −log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]),
//! optionally two-sided (the subtracted adapter toward y_l) and with the RPO
//! term (Pang et al. 2024) w·(−log π(y_w))/|y_w| that keeps y_w likely.
//!
//! Practical on two CPU cores: the reference log-probs and the hidden state
//! entering the first adapted layer are computed once per sequence, so each
//! step runs forward and backward through the adapted top layers only.

use std::time::Instant;

use candle_core::{Result, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use serde::Serialize;

use super::lora_vars::LoraVars;
use super::model::TrainModel;
use super::pairs::Pair;
use crate::backend::Backend;
use crate::engine::Engine;
use crate::model::{ChatMessage, Role};

/// One side of a pair, ready for training.
struct Sequence {
    ids: Vec<u32>,
    answer_start: usize,
    hidden: Tensor,
    reference: f64,
}

impl Sequence {
    fn answer_tokens(&self) -> usize {
        (self.ids.len() - self.answer_start).max(1)
    }
}

/// A pair tokenised, with its cached hidden states and reference log-probs.
pub struct Example {
    chosen: Sequence,
    rejected: Sequence,
}

#[derive(Debug, Clone, Serialize)]
pub struct DpoSettings {
    pub beta: f64,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub epochs: usize,
    pub batch: usize,
    pub warmup_steps: usize,
    /// Answers are cut to this many tokens.
    pub max_answer_tokens: usize,
    /// Also train the subtracted adapter (α = −1) to prefer the rejected
    /// answer: loss = ½[DPO(W + ΔW; chosen ≻ rejected) + DPO(W − ΔW;
    /// rejected ≻ chosen)], so that negative α means the second pole.
    pub two_sided: bool,
    /// Weight of the preferred answer's negative log-likelihood per token
    /// added to each direction's loss (RPO, Pang et al. 2024): it keeps the
    /// preferred answers likely in absolute terms, where DPO alone may push
    /// both answers down and move the mass onto loops. 0: plain DPO.
    pub sft_weight: f64,
}

/// Loss, reward margin and preference accuracy over some pairs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Metrics {
    pub loss: f64,
    /// Mean β[(π−ref)(chosen) − (π−ref)(rejected)] (trl's rewards/margins).
    pub margin: f64,
    /// Share of pairs whose implicit reward prefers the chosen answer.
    pub accuracy: f64,
    /// Two-sided training: the margin of the subtracted adapter toward the
    /// rejected answer, β[(π₋−ref)(rejected) − (π₋−ref)(chosen)].
    pub reverse_margin: Option<f64>,
    /// Mean log-prob per token of the preferred answer under the adapter
    /// (two-sided: the mean of both directions' preferred answers).
    pub preferred_logprob: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    pub step: usize,
    pub epoch: usize,
    pub learning_rate: f64,
    #[serde(flatten)]
    pub train: Metrics,
    pub ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalLog {
    pub step: usize,
    #[serde(flatten)]
    pub held_out: Metrics,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainingLog {
    pub steps: Vec<StepLog>,
    pub evals: Vec<EvalLog>,
    pub prepare_seconds: f64,
    pub mean_step_ms: f64,
}

/// Tokenises the pairs as the adapter will see them (the template's default
/// system prompt, the bare user message) and caches, per sequence, the
/// hidden state entering layer `from` and the reference log-prob.
pub fn prepare<B: Backend>(
    engine: &Engine<B>,
    model: &TrainModel,
    pairs: &[Pair],
    from: usize,
    max_answer_tokens: usize,
    progress: &mut dyn FnMut(usize),
) -> crate::Result<Vec<Example>> {
    let err = |e: candle_core::Error| crate::Error::Backend(format!("training forward: {e}"));
    let mut out = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let prompt = engine.chat_prompt_messages(&[ChatMessage::new(Role::User, pair.user())])?;
        let side = |answer: &str| -> crate::Result<Sequence> {
            let mut answer_ids = engine.tokenizer.encode(answer)?;
            answer_ids.truncate(max_answer_tokens);
            let answer_start = prompt.len();
            let mut ids = prompt.clone();
            ids.extend(answer_ids);
            let hidden = model.hidden_below(&ids, from).map_err(err)?;
            let reference = model
                .answer_logprob(&hidden, from, &ids, answer_start, None)
                .and_then(|t| t.to_scalar::<f32>())
                .map_err(err)? as f64;
            Ok(Sequence {
                ids,
                answer_start,
                hidden,
                reference,
            })
        };
        let chosen = side(pair.chosen_text())?;
        let rejected = side(pair.rejected_text())?;
        out.push(Example { chosen, rejected });
        progress(i + 1);
    }
    Ok(out)
}

/// The DPO loss of some examples (mean) and their metrics; two-sided, the
/// mean of both directions' losses. Each direction adds `sft_weight` times
/// its preferred answer's negative log-likelihood per token.
fn loss(
    model: &TrainModel,
    lora: &LoraVars,
    from: usize,
    examples: &[&Example],
    settings: &DpoSettings,
) -> Result<(Tensor, Metrics)> {
    let (beta, two_sided) = (settings.beta, settings.two_sided);
    let mut losses = Vec::with_capacity(examples.len());
    let (mut margin, mut correct, mut reverse, mut preferred) = (0.0, 0.0, 0.0, 0.0);
    // −log σ(β[(π−ref)(preferred) − (π−ref)(other)]) + w·NLL(preferred) per token,
    // with both log-probs under the adapter's current sign.
    let direction = |preferred: &Sequence, other: &Sequence| -> Result<(Tensor, f64, f64)> {
        let logp = |s: &Sequence| {
            model.answer_logprob(&s.hidden, from, &s.ids, s.answer_start, Some(lora))
        };
        let lp_preferred = logp(preferred)?;
        let z =
            (((&lp_preferred - preferred.reference)? - (logp(other)? - other.reference)?)? * beta)?;
        let per_token = (lp_preferred / preferred.answer_tokens() as f64)?;
        // −log σ(z) = log(1 + e^{−z})
        let mut l = (z.neg()?.exp()? + 1.0)?.log()?;
        if settings.sft_weight > 0.0 {
            l = (l - (&per_token * settings.sft_weight)?)?;
        }
        let zv = z.to_scalar::<f32>()? as f64;
        Ok((l, zv, per_token.to_scalar::<f32>()? as f64))
    };
    for ex in examples {
        let (mut l, zv, mut lp) = direction(&ex.chosen, &ex.rejected)?;
        margin += zv;
        correct += f64::from(zv > 0.0);
        if two_sided {
            lora.set_sign(-1.0);
            let back = direction(&ex.rejected, &ex.chosen);
            lora.set_sign(1.0);
            let (lr, zr, lpr) = back?;
            reverse += zr;
            lp = (lp + lpr) / 2.0;
            l = ((l + lr)? * 0.5)?;
        }
        preferred += lp;
        losses.push(l);
    }
    let n = examples.len() as f64;
    let total = (Tensor::stack(&losses, 0)?.sum_all()? / n)?;
    let metrics = Metrics {
        loss: total.to_scalar::<f32>()? as f64,
        margin: margin / n,
        accuracy: correct / n,
        reverse_margin: two_sided.then_some(reverse / n),
        preferred_logprob: preferred / n,
    };
    Ok((total, metrics))
}

/// Metrics on held-out examples (no dropout, no gradient step).
pub fn evaluate(
    model: &TrainModel,
    lora: &mut LoraVars,
    from: usize,
    examples: &[Example],
    settings: &DpoSettings,
) -> Result<Metrics> {
    lora.set_training(false);
    let refs: Vec<&Example> = examples.iter().collect();
    let mut sum = Metrics {
        loss: 0.0,
        margin: 0.0,
        accuracy: 0.0,
        reverse_margin: settings.two_sided.then_some(0.0),
        preferred_logprob: 0.0,
    };
    for chunk in refs.chunks(8) {
        let (_, m) = loss(model, lora, from, chunk, settings)?;
        let w = chunk.len() as f64 / refs.len() as f64;
        sum.loss += m.loss * w;
        sum.margin += m.margin * w;
        sum.accuracy += m.accuracy * w;
        sum.preferred_logprob += m.preferred_logprob * w;
        if let (Some(s), Some(r)) = (sum.reverse_margin.as_mut(), m.reverse_margin) {
            *s += r * w;
        }
    }
    Ok(sum)
}

/// Trains `lora` on `train`, evaluating on `held_out` before the first step
/// and after every epoch; `on_step` sees each step's log as it happens.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &TrainModel,
    lora: &mut LoraVars,
    from: usize,
    train: &[Example],
    held_out: &[Example],
    settings: &DpoSettings,
    seed: u64,
    on_step: &mut dyn FnMut(&StepLog),
) -> Result<TrainingLog> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut log = TrainingLog::default();
    let params = ParamsAdamW {
        lr: settings.learning_rate,
        weight_decay: settings.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(lora.all_vars(), params)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // The held-out pairs before training and after each epoch.
    let eval_held_out = |lora: &mut LoraVars, log: &mut TrainingLog, step: usize| -> Result<()> {
        if !held_out.is_empty() {
            let held_out = evaluate(model, lora, from, held_out, settings)?;
            log.evals.push(EvalLog { step, held_out });
        }
        Ok(())
    };
    eval_held_out(lora, &mut log, 0)?;
    let mut step = 0;
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 1..=settings.epochs {
        order.shuffle(&mut rng);
        for batch in order.chunks(settings.batch) {
            let started = Instant::now();
            step += 1;
            let lr = settings.learning_rate
                * (step as f64 / settings.warmup_steps.max(1) as f64).min(1.0);
            opt.set_learning_rate(lr);
            lora.set_training(true);
            let examples: Vec<&Example> = batch.iter().map(|&i| &train[i]).collect();
            let (total, metrics) = loss(model, lora, from, &examples, settings)?;
            opt.backward_step(&total)?;
            let entry = StepLog {
                step,
                epoch,
                learning_rate: lr,
                train: metrics,
                ms: started.elapsed().as_secs_f64() * 1e3,
            };
            on_step(&entry);
            log.steps.push(entry);
        }
        eval_held_out(lora, &mut log, step)?;
    }
    lora.set_training(false);
    log.mean_step_ms = log.steps.iter().map(|s| s.ms).sum::<f64>() / log.steps.len().max(1) as f64;
    Ok(log)
}
