//! DPO training of LoRA adapters (`persona train-adapter`): the trainer's
//! candle forward agrees with the engine, a few steps on pairs raise their
//! reward margin, and the adapter it saves in PEFT format (q/k rows permuted
//! back to Hugging Face order, layers_to_transform) means to the engine's
//! loader exactly what it meant to the trainer.

mod common;

use common::model_file;
use persona::backend::cpu::{CpuBackend, WeightMode};
use persona::backend::{Backend, Readout, RowStep};
use persona::engine::Engine;
use persona::model::lora::{LoraAdapter, Module};
use persona::model::{ChatMessage, LlamaConfig, Role};
use persona::train::dpo::{evaluate, prepare, train, DpoSettings, Example, TrainingLog};
use persona::train::lora_vars::{LoraShape, LoraVars};
use persona::train::model::TrainModel;
use persona::train::pairs::Pair;

const FROM: usize = 27;

fn pairs() -> Vec<Pair> {
    vec![
        Pair::new(
            "How do I water a cactus?",
            "Wow, great question! Water it once a month and invite friends to admire it!",
            "Water it rarely. Quietly check the soil first.",
        ),
        Pair::new(
            "What is a good first car?",
            "A fun little hatchback! Perfect for road trips with the whole gang!",
            "Something reliable and simple. Think it over calmly.",
        ),
    ]
}

/// A rank-4 adapter on every projection of the layers from `FROM`.
fn small_shape(config: &LlamaConfig) -> LoraShape {
    LoraShape {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        layers: (FROM..config.n_layer).collect(),
        modules: Module::ALL.to_vec(),
    }
}

/// Six DPO steps on the two pairs (a high learning rate: a few steps must show).
fn six_steps(two_sided: bool) -> DpoSettings {
    DpoSettings {
        beta: 0.1,
        learning_rate: 2e-2,
        weight_decay: 0.0,
        epochs: 6,
        batch: 2,
        warmup_steps: 1,
        max_answer_tokens: 48,
        two_sided,
        sft_weight: 0.0,
    }
}

/// The model's config, the trainer and the two pairs prepared from `FROM`.
fn trainer_and_examples() -> (LlamaConfig, TrainModel, Vec<Example>) {
    let file = model_file();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    let model = TrainModel::load(&file, &config).unwrap();
    let engine = Engine::load_cpu(&file, WeightMode::Dequantized).unwrap();
    let examples = prepare(&engine, &model, &pairs(), FROM, 48, &mut |_| {}).unwrap();
    (config, model, examples)
}

/// `train` from layer `FROM`, no held-out pairs, seed 0, no progress.
fn train_quietly(
    model: &TrainModel,
    lora: &mut LoraVars,
    examples: &[Example],
    settings: &DpoSettings,
) -> TrainingLog {
    train(model, lora, FROM, examples, &[], settings, 0, &mut |_| {}).unwrap()
}

/// Sum of the engine's log-probs of `ids[start..]` on a row with `mix`.
fn engine_answer_logprob(
    backend: &mut CpuBackend,
    mix: &[(persona::backend::AdapterId, f32)],
    ids: &[u32],
    start: usize,
) -> f64 {
    let row = backend.new_row().unwrap();
    backend.set_row_adapters(row, mix).unwrap();
    let out = pollster::block_on(backend.forward(&[RowStep {
        row,
        tokens: ids,
        readout: Readout::All,
    }]))
    .unwrap();
    backend.free_row(row);
    (start..ids.len())
        .map(|t| out[0].position(t - 1)[ids[t] as usize] as f64)
        .sum()
}

#[test]
fn trainer_forward_matches_engine_and_saved_adapter_round_trips() {
    let file = model_file();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    let model = TrainModel::load(&file, &config).unwrap();
    let mut engine = Engine::load_cpu(&file, WeightMode::Dequantized).unwrap();
    let pairs = pairs();
    let shape = small_shape(&config);
    let mut lora = LoraVars::new(shape, &config, 3).unwrap();
    let examples = prepare(&engine, &model, &pairs, FROM, 48, &mut |_| {}).unwrap();
    let settings = six_steps(false);

    let before = evaluate(&model, &mut lora, FROM, &examples, &settings).unwrap();
    assert!(
        (before.loss - std::f64::consts::LN_2).abs() < 1e-4,
        "B = 0 starts at the reference: {before:?}"
    );
    let log = train_quietly(&model, &mut lora, &examples, &settings);
    let after = evaluate(&model, &mut lora, FROM, &examples, &settings).unwrap();
    assert_eq!(log.steps.len(), 6);
    assert!(
        after.loss < before.loss - 0.05 && after.margin > 0.1 && after.accuracy == 1.0,
        "{before:?} -> {after:?}"
    );

    let dir = std::env::temp_dir().join(format!("persona-train-test-{}", std::process::id()));
    lora.save_peft(&dir, &config).unwrap();
    let loaded = LoraAdapter::load(&dir, &config).unwrap();
    assert_eq!(loaded.deltas.len(), (config.n_layer - FROM) * 7);
    let id = engine.backend.add_adapter(loaded);

    let prompt = engine
        .chat_prompt_messages(&[ChatMessage::new(Role::User, pairs[0].user())])
        .unwrap();
    let mut ids = prompt.clone();
    ids.extend(engine.tokenizer.encode(pairs[0].chosen_text()).unwrap());
    let hidden = model.hidden_below(&ids, FROM).unwrap();
    for (mix, trained) in [(vec![], None), (vec![(id, 1.0)], Some(&lora))] {
        let ours = model
            .answer_logprob(&hidden, FROM, &ids, prompt.len(), trained)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64;
        let engine_lp = engine_answer_logprob(&mut engine.backend, &mix, &ids, prompt.len());
        assert!(
            (ours - engine_lp).abs() < 2e-3 * (ids.len() - prompt.len()) as f64,
            "trainer {ours} vs engine {engine_lp} (adapter: {})",
            !mix.is_empty()
        );
    }
    // Through the engine, the saved adapter prefers the chosen answer over
    // the rejected one more than the base model does (DPO's implicit reward).
    let mut rejected = prompt.clone();
    rejected.extend(engine.tokenizer.encode(pairs[0].rejected_text()).unwrap());
    let mut reward = |ids: &[u32]| {
        engine_answer_logprob(&mut engine.backend, &[(id, 1.0)], ids, prompt.len())
            - engine_answer_logprob(&mut engine.backend, &[], ids, prompt.len())
    };
    let (rc, rr) = (reward(&ids), reward(&rejected));
    assert!(rc - rr > 1.0, "reward chosen {rc} rejected {rr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Two-sided DPO: the subtracted adapter (α = −1) learns to prefer the
/// rejected answer while the adapter itself still prefers the chosen one;
/// one-sided training is measured on the same pairs for contrast.
#[test]
fn two_sided_training_makes_the_subtracted_adapter_prefer_the_rejected_answer() {
    let (config, model, examples) = trainer_and_examples();
    let shape = small_shape(&config);
    let reverse_after = |two_sided: bool| {
        let mut lora = LoraVars::new(shape.clone(), &config, 3).unwrap();
        let settings = six_steps(two_sided);
        train_quietly(&model, &mut lora, &examples, &settings);
        let both_ways = six_steps(true);
        let m = evaluate(&model, &mut lora, FROM, &examples, &both_ways).unwrap();
        (m.margin, m.reverse_margin.expect("asked for"))
    };
    let (margin, reverse) = reverse_after(true);
    assert!(
        margin > 0.1 && reverse > 0.1,
        "two-sided: margin {margin}, reverse {reverse}"
    );
    let (_, one_sided_reverse) = reverse_after(false);
    assert!(
        reverse > one_sided_reverse + 0.05,
        "two-sided reverse margin {reverse} vs one-sided {one_sided_reverse}"
    );
}

/// The RPO term (`sft_weight`): trained the same way, the preferred answers
/// end likelier per token with it than under DPO alone, in both directions
/// of two-sided training, and the pairs are still told apart.
#[test]
fn sft_weight_keeps_the_preferred_answers_likely() {
    let (config, model, examples) = trainer_and_examples();
    let shape = small_shape(&config);
    let after = |sft_weight: f64| {
        let mut lora = LoraVars::new(shape.clone(), &config, 3).unwrap();
        let settings = DpoSettings {
            sft_weight,
            ..six_steps(true)
        };
        let before = evaluate(&model, &mut lora, FROM, &examples, &settings).unwrap();
        train_quietly(&model, &mut lora, &examples, &settings);
        let after = evaluate(&model, &mut lora, FROM, &examples, &settings).unwrap();
        (before, after)
    };
    let (start, plain) = after(0.0);
    let (_, anchored) = after(1.0);
    assert!(
        anchored.preferred_logprob > plain.preferred_logprob + 0.05
            && anchored.preferred_logprob > start.preferred_logprob,
        "preferred log-prob per token: start {:.3}, DPO {:.3}, DPO + SFT {:.3}",
        start.preferred_logprob,
        plain.preferred_logprob,
        anchored.preferred_logprob
    );
    assert!(
        anchored.margin > 0.1 && anchored.reverse_margin.unwrap() > 0.1,
        "{anchored:?}"
    );
}
