//! `persona train-adapter`: DPO with LoRA on preference pairs (see
//! `train::dpo`), on the CPU, writing a PEFT adapter and its training log.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::load::{self, load_engine, read_model};
use crate::model::lora::Module;
use crate::model::LlamaConfig;
use crate::train::dpo::{prepare, train, DpoSettings};
use crate::train::lora_vars::{LoraShape, LoraVars};
use crate::train::model::TrainModel;
use crate::train::pairs::pairs_from_jsonl;
use crate::{Error, Result};

#[derive(Args)]
pub(super) struct TrainAdapterArgs {
    /// Preference pairs (JSON lines from `persona make-pairs`).
    #[arg(long)]
    pub pairs: PathBuf,
    /// Output folder: adapter_config.json, adapter_model.safetensors, training.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Adapt layers from this index to the last (the lower ones stay frozen and are run once).
    #[arg(long, default_value_t = 22)]
    pub layers_from: usize,
    #[arg(long, default_value_t = 8)]
    pub rank: usize,
    #[arg(long, default_value_t = 16.0)]
    pub lora_alpha: f64,
    #[arg(long, default_value_t = 0.05)]
    pub dropout: f64,
    /// Target projections (PEFT names), comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    )]
    pub modules: Vec<String>,
    /// DPO temperature β.
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 2)]
    pub epochs: usize,
    /// Two-sided DPO: also train the subtracted adapter (α = −1) to prefer
    /// the rejected answer, so that negative α means the second pole.
    #[arg(long)]
    pub two_sided: bool,
    /// Weight of the preferred answer's negative log-likelihood per token,
    /// added to the DPO loss (RPO): keeps the steered model fluent. 0: plain DPO.
    #[arg(long, default_value_t = 0.0)]
    pub sft_weight: f64,
    /// Pairs per optimiser step.
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    #[arg(long, default_value_t = 10)]
    pub warmup_steps: usize,
    /// Every n-th pair is held out for evaluation (0: none).
    #[arg(long, default_value_t = 10)]
    pub hold_out_every: usize,
    #[arg(long, default_value_t = 48)]
    pub max_answer_tokens: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl TrainAdapterArgs {
    fn validate(&self, config: &LlamaConfig) -> Result<Vec<Module>> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if self.layers_from >= config.n_layer {
            return bad(format!(
                "--layers-from {} leaves no layer to adapt; the model has {} layers (0..{})",
                self.layers_from,
                config.n_layer,
                config.n_layer - 1
            ));
        }
        if self.rank == 0 || self.batch == 0 || self.epochs == 0 || self.max_answer_tokens == 0 {
            return bad(
                "--rank, --batch, --epochs and --max-answer-tokens must be at least 1".into(),
            );
        }
        if !(self.beta > 0.0 && self.beta.is_finite() && self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!(
                "--beta and --lr must be positive (got {} and {})",
                self.beta, self.lr
            ));
        }
        if !(self.sft_weight >= 0.0 && self.sft_weight.is_finite()) {
            return bad(format!(
                "--sft-weight must be 0 or positive (got {})",
                self.sft_weight
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) || self.lora_alpha <= 0.0 {
            return bad(format!(
                "--dropout must be in [0, 1) and --lora-alpha positive (got {} and {})",
                self.dropout, self.lora_alpha
            ));
        }
        self.modules
            .iter()
            .map(|name| {
                Module::ALL
                    .into_iter()
                    .find(|m| m.peft_name() == name.trim())
                    .ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "unknown module '{name}'; choose from q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
                        ))
                    })
            })
            .collect()
    }
}

pub(super) fn run(model_path: &Path, args: TrainAdapterArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.pairs)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.pairs.display())))?;
    let pairs = pairs_from_jsonl(&text)?;
    let file = read_model(model_path)?;
    let config = LlamaConfig::from_gguf(&file)?;
    let modules = args.validate(&config)?;
    let (train_pairs, held_pairs): (Vec<_>, Vec<_>) = pairs
        .iter()
        .enumerate()
        .partition(|(i, _)| args.hold_out_every == 0 || (i + 1) % args.hold_out_every != 0);
    let train_pairs: Vec<_> = train_pairs.into_iter().map(|(_, p)| p.clone()).collect();
    let held_pairs: Vec<_> = held_pairs.into_iter().map(|(_, p)| p.clone()).collect();
    if train_pairs.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{} holds no training pairs",
            args.pairs.display()
        )));
    }
    let engine = load_engine(model_path, load::quantized())?;
    let err = |e: candle_core::Error| Error::Backend(format!("training: {e}"));
    let model = TrainModel::load(&file, &config).map_err(err)?;
    drop(file);

    let started = Instant::now();
    let bar = ProgressBar::new(pairs.len() as u64).with_style(
        ProgressStyle::with_template(
            "prepare {bar:30} {pos}/{len} pairs (frozen layers, reference log-probs) {elapsed}",
        )
        .expect("template"),
    );
    let mut done = 0;
    let train_set = prepare(
        &engine,
        &model,
        &train_pairs,
        args.layers_from,
        args.max_answer_tokens,
        &mut |n| bar.set_position(n as u64),
    )?;
    done += train_set.len();
    let held_set = prepare(
        &engine,
        &model,
        &held_pairs,
        args.layers_from,
        args.max_answer_tokens,
        &mut |n| bar.set_position((done + n) as u64),
    )?;
    bar.finish_and_clear();
    let prepare_seconds = started.elapsed().as_secs_f64();

    let shape = LoraShape {
        rank: args.rank,
        alpha: args.lora_alpha,
        dropout: args.dropout,
        layers: (args.layers_from..config.n_layer).collect(),
        modules,
    };
    let mut lora = LoraVars::new(shape.clone(), &config, args.seed).map_err(err)?;
    let settings = DpoSettings {
        beta: args.beta,
        learning_rate: args.lr,
        weight_decay: args.weight_decay,
        epochs: args.epochs,
        batch: args.batch,
        warmup_steps: args.warmup_steps,
        max_answer_tokens: args.max_answer_tokens,
        two_sided: args.two_sided,
        sft_weight: args.sft_weight,
    };
    let steps = args.epochs * train_set.len().div_ceil(args.batch);
    let bar = ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("dpo {bar:30} {pos}/{len} steps {msg} {elapsed} (eta {eta})")
            .expect("template"),
    );
    let mut log = train(
        &model,
        &mut lora,
        args.layers_from,
        &train_set,
        &held_set,
        &settings,
        args.seed,
        &mut |s| {
            bar.set_message(format!(
                "loss {:.3} margin {:+.3} acc {:.2}",
                s.train.loss, s.train.margin, s.train.accuracy
            ));
            bar.inc(1);
        },
    )
    .map_err(err)?;
    bar.finish_and_clear();
    log.prepare_seconds = prepare_seconds;
    lora.save_peft(&args.out, &config)?;
    let record = serde_json::json!({
        "pairs": args.pairs.display().to_string(),
        "train_pairs": train_set.len(),
        "held_out_pairs": held_set.len(),
        "lora": shape,
        "dpo": settings,
        "seed": args.seed,
        "threads": rayon::current_num_threads(),
        "log": log,
    });
    std::fs::write(
        args.out.join("training.json"),
        serde_json::to_string_pretty(&record).expect("json"),
    )
    .map_err(|e| Error::InvalidInput(format!("{}: {e}", args.out.display())))?;
    let last = log.evals.last();
    eprintln!(
        "trained {} steps ({:.0} ms/step, prepare {:.0} s); held-out: {} -> {} ; adapter in {}",
        log.steps.len(),
        log.mean_step_ms,
        prepare_seconds,
        log.evals
            .first()
            .map(|e| format!("loss {:.3} acc {:.2}", e.held_out.loss, e.held_out.accuracy))
            .unwrap_or_default(),
        last.map(|e| format!(
            "loss {:.3} margin {:+.3} acc {:.2}{}",
            e.held_out.loss,
            e.held_out.margin,
            e.held_out.accuracy,
            e.held_out
                .reverse_margin
                .map(|r| format!(" reverse margin {r:+.3}"))
                .unwrap_or_default()
        ))
        .unwrap_or_default(),
        args.out.display()
    );
    Ok(())
}
