//! LoRA adapters against an independent reference: a random PEFT-format
//! adapter on all seven projections (tests/fixtures/lora/random_all7, made by
//! tests/fixtures/make_lora_fixture.py) applied per row, compared with a
//! float64 NumPy forward over the dequantized weights plus the permuted
//! deltas. Bad adapters give clear errors.

mod common;

use common::{fixture, ids, model_file};
use persona::backend::cpu::{CpuBackend, WeightMode};
use persona::backend::{Backend, Readout, RowStep};
use persona::model::lora::LoraAdapter;
use persona::model::LlamaConfig;

fn adapter_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lora/random_all7")
}

fn check(mode: WeightMode, tolerance: f64) {
    let file = model_file();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    let mut backend = CpuBackend::new(&file, &config, mode).unwrap();
    let adapter = LoraAdapter::load(&adapter_dir(), &config).unwrap();
    assert_eq!(adapter.deltas.len(), 30 * 7);
    let id = backend.add_adapter(adapter);
    let mut changed = 0;
    let mut worst = 0f64;
    for case in fixture("lora_logprobs_f64.json")["cases"]
        .as_array()
        .unwrap()
    {
        let tokens = ids(&case["ids"]);
        let (adapted, plain) = (backend.new_row().unwrap(), backend.new_row().unwrap());
        backend.set_row_adapters(adapted, &[(id, 1.0)]).unwrap();
        // Both rows in one batched call: the base weights are shared, the delta is per row.
        let out = pollster::block_on(backend.forward(&[
            RowStep {
                row: adapted,
                tokens: &tokens,
                readout: Readout::All,
            },
            RowStep {
                row: plain,
                tokens: &tokens,
                readout: Readout::All,
            },
        ]))
        .unwrap();
        for p in 0..tokens.len() {
            for (tok, lp) in ids(&case["top_ids"][p])
                .into_iter()
                .zip(case["top_logprobs"][p].as_array().unwrap())
            {
                let d = (out[0].position(p)[tok as usize] as f64 - lp.as_f64().unwrap()).abs();
                worst = worst.max(d);
                assert!(
                    d <= tolerance,
                    "position {p} token {tok}: {} vs float64 {lp}",
                    out[0].position(p)[tok as usize]
                );
            }
            let base_top = persona::engine::sampling::argmax(out[1].position(p));
            assert_eq!(
                base_top as u64,
                case["base_top1"][p].as_u64().unwrap(),
                "the plain row is unaffected by the other row's adapter"
            );
            changed += usize::from(base_top != ids(&case["top_ids"][p])[0]);
        }
        backend.free_row(adapted);
        backend.free_row(plain);
    }
    assert!(changed > 0, "the adapter changes the argmax somewhere");
    eprintln!("{mode:?}: max |Δ log-prob| {worst:e}, argmax changed at {changed} positions");
}

#[test]
fn adapter_logprobs_match_float64_numpy_dequantized() {
    check(WeightMode::Dequantized, 1e-4);
}

#[test]
fn adapter_logprobs_match_float64_numpy_quantized_path() {
    check(WeightMode::Quantized, 1e-3);
}

/// A trained adapter (PEFT files written by `persona train-adapter`, the
/// first shipped T-F adapter, kept in tests/fixtures/lora/trained_T-F)
/// against Hugging Face transformers + peft loading the same folder
/// (tests/fixtures/peft_logprobs.json, made by make_peft_fixture.py): peft
/// reads our files as we do, and the engine applies them as peft does.
#[test]
fn shipped_adapter_matches_transformers_and_peft() {
    let doc = fixture("peft_logprobs.json");
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc["adapter"].as_str().unwrap());
    let file = model_file();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    let mut backend = CpuBackend::new(&file, &config, WeightMode::Dequantized).unwrap();
    let id = backend.add_adapter(LoraAdapter::load(&dir, &config).unwrap());
    let (mut worst, mut moved) = (0f64, 0f64);
    for case in doc["cases"].as_array().unwrap() {
        let tokens = ids(&case["ids"]);
        let (adapted, plain) = (backend.new_row().unwrap(), backend.new_row().unwrap());
        backend.set_row_adapters(adapted, &[(id, 1.0)]).unwrap();
        let steps = [adapted, plain].map(|row| RowStep {
            row,
            tokens: &tokens,
            readout: Readout::All,
        });
        let out = pollster::block_on(backend.forward(&steps)).unwrap();
        for (k, (ids_key, lp_key)) in [
            ("top_ids", "top_logprobs"),
            ("base_top_ids", "base_top_logprobs"),
        ]
        .into_iter()
        .enumerate()
        {
            for p in 0..tokens.len() {
                for (tok, lp) in ids(&case[ids_key][p])
                    .into_iter()
                    .zip(case[lp_key][p].as_array().unwrap())
                {
                    let ours = out[k].position(p)[tok as usize] as f64;
                    let d = (ours - lp.as_f64().unwrap()).abs();
                    worst = worst.max(d);
                    assert!(
                        d <= 5e-4,
                        "{lp_key} position {p} token {tok}: engine {ours} vs peft {lp}"
                    );
                }
            }
        }
        for p in 0..tokens.len() {
            let t = ids(&case["top_ids"][p])[0] as usize;
            moved = moved.max((out[0].position(p)[t] - out[1].position(p)[t]).abs() as f64);
        }
        backend.free_row(adapted);
        backend.free_row(plain);
    }
    assert!(
        moved > 50.0 * worst,
        "the adapter's effect ({moved}) dwarfs the disagreement ({worst})"
    );
    eprintln!("vs transformers + peft: max |Δ log-prob| {worst:e}; the adapter moves a top-1 log-prob by up to {moved:.3}");
}

mod bad_adapters {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use safetensors::tensor::TensorView;
    use safetensors::{Dtype, SafeTensors};

    use super::*;

    /// A copy of the fixture adapter with its config and tensors edited.
    fn variant(
        name: &str,
        edit_config: impl Fn(&mut serde_json::Value),
        edit_tensors: impl Fn(&mut HashMap<String, (Vec<usize>, Vec<f32>)>),
    ) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("persona-lora-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cfg: serde_json::Value = serde_json::from_slice(
            &std::fs::read(adapter_dir().join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        edit_config(&mut cfg);
        std::fs::write(
            dir.join("adapter_config.json"),
            serde_json::to_vec(&cfg).unwrap(),
        )
        .unwrap();
        let bytes = std::fs::read(adapter_dir().join("adapter_model.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut tensors: HashMap<String, (Vec<usize>, Vec<f32>)> = st
            .tensors()
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    (
                        v.shape().to_vec(),
                        v.data()
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect(),
                    ),
                )
            })
            .collect();
        edit_tensors(&mut tensors);
        let raw: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(k, (s, v))| (k, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views: Vec<(String, TensorView)> = raw
            .iter()
            .map(|(k, s, b)| {
                (
                    k.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        std::fs::write(
            dir.join("adapter_model.safetensors"),
            safetensors::serialize(views, None).unwrap(),
        )
        .unwrap();
        dir
    }

    fn expect(dir: &std::path::Path, needle: &str) {
        let config = LlamaConfig::from_gguf(&model_file()).unwrap();
        let err = LoraAdapter::load(dir, &config).unwrap_err().to_string();
        assert!(err.contains(needle), "expected {needle:?} in {err:?}");
    }

    #[test]
    fn missing_files() {
        expect(
            std::path::Path::new("/nonexistent/adapter"),
            "adapter_config.json",
        );
    }

    #[test]
    fn another_base_model() {
        expect(
            &variant(
                "base",
                |c| c["base_model_name_or_path"] = "meta-llama/Llama-3-8B".into(),
                |_| {},
            ),
            "trained for meta-llama/Llama-3-8B",
        );
    }

    #[test]
    fn unknown_target_module() {
        expect(
            &variant(
                "target",
                |c| c["target_modules"] = serde_json::json!(["q_proj", "lm_head"]),
                |_| {},
            ),
            "unknown target module 'lm_head'",
        );
    }

    #[test]
    fn rank_not_matching_the_config() {
        expect(
            &variant("rank", |c| c["r"] = 4.into(), |_| {}),
            "ranks that do not match",
        );
    }

    #[test]
    fn shapes_of_another_model() {
        let key = "base_model.model.model.layers.3.mlp.up_proj.lora_B.weight";
        expect(
            &variant(
                "shape",
                |_| {},
                |t| {
                    t.insert(key.to_string(), (vec![2048, 2], vec![0.0; 4096]));
                },
            ),
            "wrong base model",
        );
    }

    #[test]
    fn non_finite_values() {
        let key = "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight";
        expect(
            &variant(
                "nan",
                |_| {},
                |t| {
                    t.get_mut(key).unwrap().1[5] = f32::NAN;
                },
            ),
            "non-finite",
        );
    }

    #[test]
    fn a_missing_layer() {
        let key = "base_model.model.model.layers.7.self_attn.o_proj.lora_A.weight";
        expect(
            &variant(
                "missing",
                |_| {},
                |t| {
                    t.remove(key);
                },
            ),
            "missing",
        );
    }

    #[test]
    fn layers_to_transform_outside_the_model() {
        expect(
            &variant(
                "layers",
                |c| c["layers_to_transform"] = serde_json::json!([28, 30]),
                |_| {},
            ),
            "layers_to_transform [28,30] must list layer indices below 30",
        );
    }

    #[test]
    fn layers_to_transform_limits_the_adapted_layers() {
        let dir = variant(
            "subset",
            |c| c["layers_to_transform"] = serde_json::json!(29),
            |t| t.retain(|k, _| k.contains("layers.29.")),
        );
        let config = LlamaConfig::from_gguf(&model_file()).unwrap();
        let adapter = LoraAdapter::load(&dir, &config).unwrap();
        assert_eq!(adapter.deltas.len(), 7);
        assert!(adapter.deltas.keys().all(|&(layer, _)| layer == 29));
    }
}

/// DPO Soups is one row whose mix is the α-weighted adapters: the deltas add
/// linearly, so splitting one adapter's weight across two entries changes nothing.
#[test]
fn soup_mixes_add_linearly() {
    let file = model_file();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    let mut backend = CpuBackend::new(&file, &config, WeightMode::Quantized).unwrap();
    let a = backend.add_adapter(LoraAdapter::load(&adapter_dir(), &config).unwrap());
    let b = backend.add_adapter(LoraAdapter::load(&adapter_dir(), &config).unwrap());
    let (whole, split) = (backend.new_row().unwrap(), backend.new_row().unwrap());
    backend.set_row_adapters(whole, &[(a, 1.0)]).unwrap();
    backend
        .set_row_adapters(split, &[(a, 0.3), (b, 0.7)])
        .unwrap();
    let tokens = [1u32, 9690, 198, 2683, 359, 253, 5356, 5646];
    let out = pollster::block_on(backend.forward(&[
        RowStep {
            row: whole,
            tokens: &tokens,
            readout: Readout::All,
        },
        RowStep {
            row: split,
            tokens: &tokens,
            readout: Readout::All,
        },
    ]))
    .unwrap();
    let worst = out[0]
        .data
        .iter()
        .zip(&out[1].data)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst < 1e-4, "max difference {worst}");
}

#[test]
fn soups_and_adapter_experts_run_through_the_cli() {
    let dir = adapter_dir().to_string_lossy().to_string();
    let adapter = format!("rnd={dir}");
    for args in [
        vec![
            "run",
            "--method",
            "soups",
            "--adapter",
            &adapter,
            "--alpha",
            "rnd=0.5",
            "--user",
            "Tell me a fact.",
            "--max-tokens",
            "6",
        ],
        vec![
            "run",
            "--method",
            "scr",
            "--adapter",
            &adapter,
            "--alpha",
            "rnd=1.0",
            "--alpha",
            "E=0.5",
            "--user",
            "Tell me a fact.",
            "--max-tokens",
            "6",
        ],
        vec![
            "run",
            "--method",
            "mod",
            "--adapter",
            &adapter,
            "--alpha",
            "rnd=0.5",
            "--alpha",
            "I=0.5",
            "--user",
            "Tell me a fact.",
            "--max-tokens",
            "6",
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_persona"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
    }
}
