//! The probe scorer against identities that must hold exactly: with one
//! expert at α = 1 the MPG target and MOD both reduce to that expert's own
//! likelihood, PDD with a huge β reduces to the full-persona prompt's, and
//! Base is the plain prompt's teacher-forced log-likelihood computed directly.

mod common;

use common::model_file;
use persona::backend::cpu::WeightMode;
use persona::backend::{Backend, Readout, RowStep};
use persona::engine::Engine;
use persona::steer::WeightedExpert;
use persona::steer::{builtin_experts, Persona};
use persona::steer::{score_item, ProbeItem};
use persona::steer::{Method, RunConfig};

fn item() -> ProbeItem {
    ProbeItem {
        axis: "E-I".into(),
        prompt: "How should I spend my Saturday?".into(),
        a: "Throw a party and invite everyone you know!".into(),
        b: "Stay in with a good book and a cup of tea.".into(),
    }
}

/// Teacher-forced log-likelihood of `completion` after the chat prompt with `system`.
fn direct(
    engine: &mut Engine<persona::backend::cpu::CpuBackend>,
    system: Option<&str>,
    completion: &str,
) -> f64 {
    let prompt = engine.chat_prompt(system, &item().prompt).unwrap();
    let ids = engine.tokenizer.encode(completion).unwrap();
    let mut all = prompt.clone();
    all.extend(&ids);
    let row = engine.backend.new_row().unwrap();
    let out = pollster::block_on(engine.backend.forward(&[RowStep {
        row,
        tokens: &all,
        readout: Readout::All,
    }]))
    .unwrap();
    engine.backend.free_row(row);
    ids.iter()
        .enumerate()
        .map(|(t, &id)| out[0].position(prompt.len() - 1 + t)[id as usize] as f64)
        .sum()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 2e-3
}

#[test]
fn probe_scores_reduce_to_direct_likelihoods() {
    let mut engine = Engine::load_cpu(&model_file(), WeightMode::Quantized).unwrap();
    let e = builtin_experts()
        .into_iter()
        .find(|x| x.name == "E")
        .unwrap();
    let persona = Persona::builtin().into_iter().next().unwrap();
    let (base_a, base_b) = (
        direct(&mut engine, None, &item().a),
        direct(&mut engine, None, &item().b),
    );
    let (e_a, e_b) = (
        direct(&mut engine, Some(&e.prompt), &item().a),
        direct(&mut engine, Some(&e.prompt), &item().b),
    );
    let (p_a, p_b) = (
        direct(&mut engine, Some(&persona.system_prompt()), &item().a),
        direct(&mut engine, Some(&persona.system_prompt()), &item().b),
    );

    let score = |engine: &mut Engine<_>, cfg: RunConfig| {
        pollster::block_on(score_item(engine, &cfg, &item())).unwrap()
    };
    let (a, b) = score(
        &mut engine,
        RunConfig {
            method: Method::Base,
            ..RunConfig::default()
        },
    );
    assert!(
        close(a, base_a) && close(b, base_b),
        "base {a} {b} vs {base_a} {base_b}"
    );
    for method in [Method::Scr, Method::Mod] {
        let cfg = RunConfig {
            method,
            experts: vec![WeightedExpert::prompt("E", &e.prompt, 1.0)],
            ..RunConfig::default()
        };
        let (a, b) = score(&mut engine, cfg);
        assert!(
            close(a, e_a) && close(b, e_b),
            "{method:?} {a} {b} vs expert {e_a} {e_b}"
        );
    }
    let mut cfg = RunConfig {
        method: Method::Pdd,
        persona: Some(persona),
        ..RunConfig::default()
    };
    cfg.pdd.beta = 1e12;
    cfg.pdd.pie_tokens = 4;
    let (a, b) = score(&mut engine, cfg);
    assert!(
        close(a, p_a) && close(b, p_b),
        "pdd {a} {b} vs persona prompt {p_a} {p_b}"
    );
    // The extraverted expert prefers the party more than the plain prompt does.
    assert!(
        e_a - e_b > base_a - base_b,
        "E expert margin {} vs base {}",
        e_a - e_b,
        base_a - base_b
    );
}
