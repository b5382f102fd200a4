//! The WebGPU backend against the CPU backend, natively on Mesa's lavapipe
//! (software Vulkan, installed by scripts/setup.sh): the adapter really is
//! Vulkan/lavapipe (no silent fallback), greedy tokens and log-probs equal
//! the CPU's on the fixtures' prompts, the backend conformance suite
//! (`conformance/`: batching, truncate, fork, views from the prefix cache, bad steps) holds, LoRA adapters apply identically, every steering method
//! produces the CPU's output for a fixed seed, and one decode step is one
//! submission that reads back only the log-probs.

mod common;
mod conformance;

use std::sync::{LazyLock, Mutex, MutexGuard};

use common::{fixture, ids, model_file};
use conformance::{fwd, long_seq, max_diff, one, A};
use persona::backend::cpu::{CpuBackend, WeightMode};
use persona::backend::webgpu::{MatmulKernel, WebGpuBackend};
use persona::backend::{
    AdapterId, Backend, LogProbs, Mix, MixRead, Mixed, Readout, RowId, RowStep,
};
use persona::engine::sampling::{argmax, Sampling};
use persona::engine::Engine;
use persona::model::lora::LoraAdapter;
use persona::steer::{experts_path, load_experts, Persona};
use persona::steer::{run, Event, Experts, Method, RunConfig};
use persona::steer::{Reference, WeightedExpert};

/// Both engines, loaded once and shared (tests take turns: lavapipe and the
/// CPU backend share this machine's cores).
struct Pair {
    cpu: Engine<CpuBackend>,
    gpu: Engine<WebGpuBackend>,
    /// random_all7 loaded into both (the same id on each).
    adapter: AdapterId,
}

static PAIR: LazyLock<Mutex<Pair>> = LazyLock::new(|| {
    let file = model_file();
    let mut cpu = Engine::load_cpu(&file, WeightMode::Quantized).unwrap();
    let mut gpu = pollster::block_on(Engine::load_webgpu(&file)).unwrap_or_else(|e| {
        panic!("{e}\nthe WebGPU tests need a Vulkan adapter: scripts/setup.sh installs Mesa's lavapipe (mesa-vulkan-drivers, libvulkan1)")
    });
    let adapter = LoraAdapter::load(&adapter_dir(), cpu.config()).unwrap();
    let a = cpu.backend.add_adapter(adapter.clone());
    let b = gpu.backend.add_adapter(adapter).unwrap();
    assert_eq!(a, b);
    Mutex::new(Pair {
        cpu,
        gpu,
        adapter: a,
    })
});

fn pair() -> MutexGuard<'static, Pair> {
    PAIR.lock().unwrap_or_else(|e| e.into_inner())
}

fn adapter_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lora/random_all7")
}

/// Gap between the two largest log-probs.
fn top2_gap(lp: &[f32]) -> f32 {
    let mut best = [f32::NEG_INFINITY; 2];
    for &v in lp {
        if v > best[0] {
            best = [v, best[0]];
        } else if v > best[1] {
            best[1] = v;
        }
    }
    best[0] - best[1]
}

/// Tolerance on every log-prob (full vocabulary) against the CPU backend.
const TOL: f32 = 1e-3;
/// A greedy fork between the backends is only accepted at a near-tie.
const TIE: f32 = 2e-3;

#[test]
fn adapter_is_vulkan_lavapipe() {
    let p = pair();
    let info = p.gpu.backend.adapter_info();
    eprintln!("adapter: {info:?}");
    assert_eq!(
        info.backend,
        wgpu::Backend::Vulkan,
        "expected Mesa's lavapipe on Vulkan, got {info:?}"
    );
    assert_eq!(info.device_type, wgpu::DeviceType::Cpu, "{info:?}");
    let text = format!("{} {} {}", info.name, info.driver, info.driver_info).to_lowercase();
    assert!(
        text.contains("llvmpipe") || text.contains("lavapipe"),
        "expected lavapipe (llvmpipe), got {info:?}"
    );
    assert!(p.gpu.backend.name().starts_with("webgpu (Vulkan"));
}

/// Greedy decoding of 64 tokens from every fixture prompt: the same tokens
/// as the CPU backend, every log-prob within 1e-3. Where the two backends
/// part ways the CPU's top-2 gap must be a near-tie (< 2e-3 nats).
#[test]
fn greedy_tokens_and_logprobs_equal_cpu() {
    let mut guard = pair();
    let p = &mut *guard;
    let (cpu, gpu) = (&mut p.cpu.backend, &mut p.gpu.backend);
    let cases = fixture("greedy.json")["cases"].as_array().unwrap().clone();
    let mut worst = 0f32;
    let mut identical = 0;
    for (c, case) in cases.iter().enumerate() {
        let prompt = ids(&case["prompt_ids"]);
        let (rc, rg) = (cpu.new_row().unwrap(), gpu.new_row().unwrap());
        let mut lc = one(cpu, rc, &prompt, Readout::Last);
        let mut lg = one(gpu, rg, &prompt, Readout::Last);
        let mut case_worst = 0f32;
        let mut agreed = 0;
        for step in 0..64 {
            let d = max_diff(&lc.data, &lg.data);
            case_worst = case_worst.max(d);
            assert!(d <= TOL, "case {c} step {step}: max |Δ log-prob| {d}");
            let (tc, tg) = (argmax(lc.last()), argmax(lg.last()));
            if tc != tg {
                let gap = top2_gap(lc.last());
                assert!(gap < TIE, "case {c} step {step}: cpu {tc}, webgpu {tg}, CPU top-2 gap {gap}: not a near-tie");
                eprintln!("case {c}: backends part at step {step} (near-tie, gap {gap:e})");
                break;
            }
            agreed += 1;
            lc = one(cpu, rc, &[tc], Readout::Last);
            lg = one(gpu, rg, &[tc], Readout::Last);
        }
        eprintln!("case {c}: {agreed}/64 greedy tokens equal, max |Δ log-prob| {case_worst:.2e}");
        identical += usize::from(agreed == 64);
        worst = worst.max(case_worst);
        cpu.free_row(rc);
        gpu.free_row(rg);
    }
    eprintln!(
        "{identical} of {} cases identical for 64 tokens; max |Δ log-prob| {worst:.2e}",
        cases.len()
    );
    assert!(identical + 1 >= cases.len(), "more than one case forks");
}

/// Every position of the float64 fixture's sequences (one prefill with
/// every position read out), against the CPU, with the matmul kernels the
/// adapter chose (row per invocation on lavapipe) and with the other ones
/// (32 lanes per row, what hardware adapters run).
#[test]
fn prefill_logprobs_at_every_position_equal_cpu() {
    let mut guard = pair();
    let p = &mut *guard;
    let (cpu, gpu) = (&mut p.cpu.backend, &mut p.gpu.backend);
    assert_eq!(gpu.matmul_kernel(), MatmulKernel::Rows, "software adapter");
    for kernel in [MatmulKernel::Rows, MatmulKernel::Lanes] {
        gpu.set_matmul_kernel(kernel);
        let worst = prefill_against_cpu(cpu, gpu);
        eprintln!(
            "prefill, all positions, {kernel:?} matmuls: max |Δ log-prob| vs CPU {worst:.2e}"
        );
        assert!(worst <= TOL, "{kernel:?}: max |Δ log-prob| {worst}");
    }
    gpu.set_matmul_kernel(MatmulKernel::Rows);
}

fn prefill_against_cpu(cpu: &mut CpuBackend, gpu: &mut WebGpuBackend) -> f32 {
    let mut worst = 0f32;
    for case in fixture("logprobs_f64.json")["cases"].as_array().unwrap() {
        let tokens = ids(&case["ids"]);
        let (rc, rg) = (cpu.new_row().unwrap(), gpu.new_row().unwrap());
        let a = one(cpu, rc, &tokens, Readout::All);
        let b = one(gpu, rg, &tokens, Readout::All);
        assert_eq!(b.positions(), tokens.len());
        worst = worst.max(max_diff(&a.data, &b.data));
        for i in 0..tokens.len() {
            assert_eq!(argmax(a.position(i)), argmax(b.position(i)), "position {i}");
        }
        cpu.free_row(rc);
        gpu.free_row(rg);
    }
    worst
}

#[test]
fn batched_rows_equal_rows_alone() {
    conformance::batched_rows_equal_rows_alone(&mut pair().gpu.backend);
}

#[test]
fn truncate_and_refeed_equals_fresh_run() {
    conformance::truncate_and_refeed_equals_fresh_run(&mut pair().gpu.backend);
}

#[test]
fn fork_continues_like_the_original() {
    conformance::fork_continues_like_the_original(&mut pair().gpu.backend);
}

#[test]
fn bad_steps_are_rejected_and_leave_rows_intact() {
    conformance::bad_steps_are_rejected_and_leave_rows_intact(&mut pair().gpu.backend);
}

#[test]
fn cached_views_equal_a_fresh_prefill() {
    conformance::cached_views_equal_a_fresh_prefill(&mut pair().gpu.backend);
}

/// random_all7 on one row, the plain model on another, in one call; and a
/// soup mix split over two entries: all as on the CPU.
#[test]
fn adapters_apply_like_the_cpu() {
    let mut guard = pair();
    let p = &mut *guard;
    let id = p.adapter;
    let mut worst = 0f32;
    let mut changed = 0;
    for case in fixture("lora_logprobs_f64.json")["cases"]
        .as_array()
        .unwrap()
    {
        let tokens = ids(&case["ids"]);
        let mut outs = Vec::new();
        for b in [
            &mut p.cpu.backend as &mut dyn FnMutBackend,
            &mut p.gpu.backend,
        ] {
            outs.push(b.adapted_and_plain(id, &tokens));
        }
        let (c, g) = (&outs[0], &outs[1]);
        for k in 0..3 {
            worst = worst.max(max_diff(&c[k].data, &g[k].data));
        }
        for i in 0..tokens.len() {
            let (ca, ga) = (argmax(c[0].position(i)), argmax(g[0].position(i)));
            assert_eq!(ca, ga, "adapted argmax at {i}");
            assert_eq!(argmax(c[1].position(i)), argmax(g[1].position(i)));
            changed += usize::from(ga != argmax(g[1].position(i)));
        }
        assert!(max_diff(&g[0].data, &g[2].data) < 1e-4, "split soup mix");
    }
    eprintln!("adapters: max |Δ log-prob| vs CPU {worst:.2e}, adapter changes argmax at {changed} positions");
    assert!(worst <= TOL, "max |Δ log-prob| {worst}");
    assert!(changed > 0);
}

/// The adapter test's three rows on any backend (object-safe helper: the
/// trait's `forward` returns `impl Future`).
trait FnMutBackend {
    /// Log-probs at every position for: the adapter at weight 1, no adapter,
    /// and the adapter split 0.3 + 0.7 over two entries.
    fn adapted_and_plain(&mut self, id: AdapterId, tokens: &[u32]) -> Vec<LogProbs>;
}

impl<T: Backend> FnMutBackend for T {
    fn adapted_and_plain(&mut self, id: AdapterId, tokens: &[u32]) -> Vec<LogProbs> {
        let rows: Vec<RowId> = (0..3).map(|_| self.new_row().unwrap()).collect();
        self.set_row_adapters(rows[0], &[(id, 1.0)]).unwrap();
        self.set_row_adapters(rows[2], &[(id, 0.3), (id, 0.7)])
            .unwrap();
        let steps: Vec<RowStep> = rows
            .iter()
            .map(|&row| RowStep {
                row,
                tokens,
                readout: Readout::All,
            })
            .collect();
        let out = fwd(self, &steps);
        for r in rows {
            self.free_row(r);
        }
        out
    }
}

fn run_tokens<B: Backend>(engine: &mut Engine<B>, cfg: &RunConfig) -> (Vec<u32>, String) {
    let mut ids = Vec::new();
    let mut text = String::new();
    pollster::block_on(run(engine, cfg, &mut |ev| {
        if let Event::Token { id, text: t, .. } = ev {
            ids.push(id);
            text.push_str(&t);
        }
    }))
    .unwrap_or_else(|e| panic!("{}: {e}", cfg.method.name()));
    (ids, text)
}

/// Every steering method, same settings and seed on both backends: the same
/// tokens.
#[test]
fn every_steering_method_equals_cpu() {
    let mut guard = pair();
    let p = &mut *guard;
    let persona = Persona::load(Persona::presets_dir().join("captain_mara_vey.toml")).unwrap();
    let experts = load_experts(experts_path()).unwrap();
    let prompt = |name: &str, alpha: f64| {
        let e = experts.iter().find(|e| e.name == name).unwrap();
        WeightedExpert::prompt(&e.name, &e.prompt, alpha)
    };
    // Every method greedy (SCR and the RS methods still sample their
    // proposals), then the sampled decisions of the single-view and mixed
    // methods: drawn from candidates read back, or the whole vocabulary
    // when a nucleus reaches past them.
    let sampled = Sampling::TopP {
        temperature: 0.9,
        top_p: 0.95,
        seed: 3,
    };
    let runs = Method::ALL
        .iter()
        .map(|&m| (m, Sampling::Greedy))
        .chain(["pp", "pdd", "mod"].map(|m| (m.parse::<Method>().expect("a method"), sampled)));
    for (method, sampling) in runs {
        let mut cfg = RunConfig {
            method,
            user: "How should I spend a rainy Sunday afternoon?".into(),
            max_tokens: 8,
            seed: 3,
            sampling,
            ..RunConfig::default()
        };
        // Each method gets the inputs its description asks for.
        let info = method.info();
        if info.persona {
            cfg.persona = Some(persona.clone());
            cfg.pdd.pie_tokens = 6;
        }
        match info.experts {
            Experts::None => {}
            Experts::AdaptersOnly => {
                cfg.experts = vec![WeightedExpert::adapter("rnd", p.adapter, 0.5)];
                cfg.reference = Reference::Plain;
            }
            Experts::Any => cfg.experts = vec![prompt("E", 1.0), prompt("T", -0.5)],
        }
        cfg.max_seq_tries = 2;
        let (c_ids, c_text) = run_tokens(&mut p.cpu, &cfg);
        let (g_ids, g_text) = run_tokens(&mut p.gpu, &cfg);
        eprintln!("{} ({sampling:?}): {:?}", method.name(), g_text);
        assert!(!c_ids.is_empty(), "{}", method.name());
        assert_eq!(
            c_ids,
            g_ids,
            "{} ({sampling:?}): cpu {c_text:?} vs webgpu {g_text:?}",
            method.name()
        );
    }
}

/// One decode step of one row: one submission, a fixed number of
/// dispatches, and exactly one vocabulary of log-probs read back.
#[test]
fn decode_step_costs() {
    let mut p = pair();
    let b = &mut p.gpu.backend;
    let row = b.new_row().unwrap();
    one(b, row, A, Readout::Last);
    let before = b.gpu_counters();
    let n = 4;
    for i in 0..n {
        one(b, row, &[100 + i], Readout::Last);
    }
    let d = b.gpu_counters().since(before);
    let vocab = b.config().vocab as u64;
    eprintln!(
        "per decode token: {} dispatches, {} submissions, {} bytes read back, {} bytes uploaded, {:.1} MB of weights read",
        d.dispatches / n as u64,
        d.submissions / n as u64,
        d.bytes_read_back / n as u64,
        d.bytes_uploaded / n as u64,
        d.weight_bytes_read as f64 / n as f64 / 1e6
    );
    assert_eq!(d.submissions, n as u64);
    assert_eq!(d.bytes_read_back, n as u64 * vocab * 4);
    let layers = b.config().n_layer as u64;
    assert_eq!(d.dispatches / n as u64, 9 * layers + 4);

    // Greedy decoding asks for the best token only: one more dispatch (top-k)
    // and one (id, log-prob) pair read back instead of a vocabulary.
    let before = b.gpu_counters();
    for i in 0..n {
        one(b, row, &[200 + i], Readout::TopK(1));
    }
    let d = b.gpu_counters().since(before);
    eprintln!(
        "greedy decode token: {} dispatches, {} bytes read back",
        d.dispatches / n as u64,
        d.bytes_read_back / n as u64
    );
    assert_eq!(d.submissions, n as u64);
    assert_eq!(d.bytes_read_back, n as u64 * 8);
    assert_eq!(d.dispatches / n as u64, 9 * layers + 5);
    b.free_row(row);
}

#[test]
fn sparse_readouts_equal_cpu_and_read_back_words() {
    let mut p = pair();
    let Pair { cpu, gpu, .. } = &mut *p;
    let seq: Vec<u32> = long_seq(9);
    // One call mixing every read-out (top-k of two sizes, so runs split).
    let kinds = [
        Readout::All,
        Readout::Score,
        Readout::TopK(5),
        Readout::Last,
        Readout::TopK(1),
        Readout::Score,
        Readout::None,
        Readout::TopK(5),
    ];
    let mut outs = Vec::new();
    for b in [&mut cpu.backend as &mut dyn Stepper, &mut gpu.backend] {
        outs.push(b.mixed(&kinds, &seq));
    }
    let (c, g) = (&outs[0], &outs[1]);
    for (i, kind) in kinds.iter().enumerate() {
        assert!(max_diff(&c[i].data, &g[i].data) < TOL, "{kind:?} dense");
        assert!(
            max_diff(&c[i].scores, &g[i].scores) < TOL,
            "{kind:?} scores"
        );
        assert_eq!(c[i].top.len(), g[i].top.len(), "{kind:?}");
        for (a, b) in c[i].top.iter().zip(&g[i].top) {
            assert!((a.1 - b.1).abs() < TOL, "{kind:?} top value");
            // The same token unless two are within the tolerance of each other.
            if a.0 != b.0 {
                let near = c[i]
                    .top
                    .iter()
                    .any(|x| x.0 == b.0 && (x.1 - a.1).abs() < TIE);
                assert!(near, "{kind:?}: cpu {a:?} gpu {b:?}");
            }
        }
    }
    assert_eq!(g[1].scores.len(), seq.len() - 1);
    assert_eq!(g[2].top.len(), 5);
    assert!(g[6].data.is_empty() && g[6].scores.is_empty() && g[6].top.is_empty());
}

/// One call with one row per read-out kind, every row fed `seq`; returns
/// the read-outs (rows freed).
trait Stepper {
    fn mixed(&mut self, kinds: &[Readout], seq: &[u32]) -> Vec<LogProbs>;
}

impl<B: Backend> Stepper for B {
    fn mixed(&mut self, kinds: &[Readout], seq: &[u32]) -> Vec<LogProbs> {
        let rows: Vec<RowId> = kinds.iter().map(|_| self.new_row().unwrap()).collect();
        let steps: Vec<RowStep> = rows
            .iter()
            .zip(kinds)
            .map(|(&row, &readout)| RowStep {
                row,
                tokens: seq,
                readout,
            })
            .collect();
        let out = fwd(self, &steps);
        for row in rows {
            self.free_row(row);
        }
        out
    }
}

#[test]
fn a_lost_device_fails_every_call_with_device_lost() {
    // Its own backend: destroying the shared one would fail the other tests.
    let file = model_file();
    let mut gpu = pollster::block_on(Engine::load_webgpu(&file)).unwrap();
    let row = gpu.backend.new_row().unwrap();
    let before = one(&mut gpu.backend, row, &[1, 2, 3], Readout::Last);
    assert_eq!(before.positions(), 1);

    gpu.backend.lose_device();
    let steps = [RowStep {
        row,
        tokens: &[4],
        readout: Readout::Last,
    }];
    let err = pollster::block_on(gpu.backend.forward(&steps)).unwrap_err();
    assert_eq!(err.kind(), "device_lost", "{err}");
    assert!(err.to_string().contains("?backend=cpu"), "{err}");
    let err = gpu.backend.fork_row(row, 2).unwrap_err();
    assert_eq!(err.kind(), "device_lost", "{err}");
    // The row's bookkeeping is untouched: the conversation can move to the CPU.
    assert_eq!(gpu.backend.row_len(row).unwrap(), 3);
}

/// Mixed read-outs on the GPU — PDD's and MOD's per-step mixes, MPG's
/// target, a row's own candidates with the tempered mass a nucleus draw
/// needs, each at the rows' last new position — equal the CPU's, for a few
/// words read back instead of a vocabulary per row; and a call with more
/// mixes than the read-out pass holds is refused, not truncated.
#[test]
fn mixed_readouts_equal_cpu() {
    let mut p = pair();
    let Pair { cpu, gpu, .. } = &mut *p;
    let prompts: [&[u32]; 3] = [&long_seq(7), &[1, 504, 3300, 28], &[1, 9, 77, 1200, 43]];
    let reads = vec![
        MixRead::top(
            Mix::Linear {
                weights: vec![0.6, 0.4, -0.3],
            },
            5,
        ),
        MixRead::top(
            Mix::Pdd {
                weights: vec![0.7, -0.3],
                delta: vec![0.2, -0.1],
                beta: 0.5,
            },
            5,
        ),
        MixRead::top(
            Mix::Mpg {
                alpha: vec![1.0, -0.5],
            },
            5,
        ),
        MixRead::top(Mix::Row { row: 1 }, 64).tempered(Some(0.7)),
        MixRead::top(
            Mix::Mpg {
                alpha: vec![-1.0, -1.0],
            },
            3,
        ),
    ];
    let next = [42, 7, 300];
    let words: usize = reads
        .iter()
        .map(|r| 2 * r.k + usize::from(r.temperature.is_some()) + 3 * r.k)
        .sum();
    let c = cpu.backend.mixed_step(&prompts, &next, &reads);
    let before = gpu.backend.gpu_counters();
    let g = gpu.backend.mixed_step(&prompts, &next, &reads);
    let d = gpu.backend.gpu_counters().since(before);
    assert_eq!(
        d.bytes_read_back,
        (4 * words) as u64,
        "only the reads' words"
    );
    for (r, (c, g)) in reads.iter().zip(c.iter().zip(&g)) {
        assert_mixed_close(c, g, &format!("{:?}", r.mix));
        assert_eq!(g.top.len(), r.k);
        assert_eq!(g.at_top.len(), prompts.len());
        match (c.mass, g.mass) {
            (Some(a), Some(b)) => assert!((a - b).abs() / a < 1e-4, "mass {a} vs {b}"),
            (None, None) => {}
            other => panic!("mass {other:?}"),
        }
    }

    // The pass holds 64 rows: 3 kept and 61 combined fit; more do not.
    let mpg = |i: usize| {
        MixRead::top(
            Mix::Mpg {
                alpha: vec![1.0 + 0.01 * i as f64, -0.4],
            },
            2,
        )
    };
    let reads: Vec<MixRead> = (0..61).map(mpg).collect();
    let c = cpu.backend.mixed_step(&prompts, &next, &reads);
    let g = gpu.backend.mixed_step(&prompts, &next, &reads);
    for (i, (c, g)) in c.iter().zip(&g).enumerate() {
        assert_mixed_close(c, g, &format!("a full pass, read {i}"));
    }
    // One row and 64 mixes of it: 65 rows.
    let row = gpu.backend.new_row().unwrap();
    let step = [RowStep {
        row,
        tokens: &next,
        readout: Readout::Last,
    }];
    let too_many: Vec<MixRead> = (0..64)
        .map(|_| MixRead::top(Mix::Linear { weights: vec![1.0] }, 2))
        .collect();
    let err = pollster::block_on(gpu.backend.forward_mixed(&step, &too_many)).unwrap_err();
    assert!(err.to_string().contains("exceed"), "{err}");
    gpu.backend.free_row(row);
}

fn assert_mixed_close(c: &Mixed, g: &Mixed, what: &str) {
    for (a, b) in c.top.iter().zip(&g.top) {
        assert!((a.1 - b.1).abs() < TOL, "{what}: {a:?} vs {b:?}");
        if a.0 != b.0 {
            let near = c.top.iter().any(|x| x.0 == b.0 && (x.1 - a.1).abs() < TIE);
            assert!(near, "{what}: cpu {a:?} gpu {b:?}");
        }
    }
    if c.top.iter().map(|t| t.0).eq(g.top.iter().map(|t| t.0)) {
        for (rc, rg) in c.at_top.iter().zip(&g.at_top) {
            assert!(max_diff(rc, rg) < TOL, "{what}");
        }
    }
}

/// Prefills one row per prompt, then one mixed call feeding `next` to each.
trait MixStepper {
    fn mixed_step(&mut self, prompts: &[&[u32]], next: &[u32], reads: &[MixRead]) -> Vec<Mixed>;
}

impl<B: Backend> MixStepper for B {
    fn mixed_step(&mut self, prompts: &[&[u32]], next: &[u32], reads: &[MixRead]) -> Vec<Mixed> {
        let rows: Vec<RowId> = prompts.iter().map(|_| self.new_row().unwrap()).collect();
        let steps: Vec<RowStep> = rows
            .iter()
            .zip(prompts)
            .map(|(&row, &tokens)| RowStep {
                row,
                tokens,
                readout: Readout::None,
            })
            .collect();
        fwd(self, &steps);
        let steps: Vec<RowStep> = rows
            .iter()
            .map(|&row| RowStep {
                row,
                tokens: next,
                readout: Readout::Last,
            })
            .collect();
        let out = pollster::block_on(self.forward_mixed(&steps, reads)).unwrap();
        for row in rows {
            self.free_row(row);
        }
        out
    }
}
