//! The `persona` command line (native only): the same engine as the page,
//! for tokenizing, generating, and benchmarking.

mod bench;
mod bench_cpu;
mod bench_llama_cpp;
mod bench_methods;
mod bench_prompt;
mod bench_reuse;
mod bench_webgpu;
mod chat;
mod chat_line;
mod eval_steering;
mod generate;
mod load;
mod make_pairs;
mod probe;
mod run;
mod train_adapter;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::model::default_model_path;

#[derive(Parser)]
#[command(
    name = "persona",
    version,
    about = "Decoding-time persona steering for SmolLM2: the playground's engine on the command line"
)]
struct Cli {
    /// GGUF model file (default: the one `scripts/setup.sh model` fetches).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// CPU threads for the forward passes (default: the machine's cores,
    /// at most 8). The logits are the same for any count.
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// How the CPU multiplies the quantized weights: `int8` rounds the
    /// activations to 8 bits per 32-block for integer dot products (fast,
    /// llama.cpp's scheme); `exact` keeps them f32 (the dequantized model's
    /// math, log-probs a few hundredths of a nat apart). The page uses int8.
    #[arg(long, global = true, value_enum, default_value_t = load::Kernels::Int8)]
    kernels: load::Kernels,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the token ids of a text as a JSON list.
    Tokenize {
        #[arg(long)]
        text: String,
        /// Recognise control tokens written in the text (`<|im_start|>` becomes
        /// id 1); by default the text is plain text, as every message is.
        #[arg(long)]
        parse_special: bool,
    },
    /// Answer one chat message, streaming the text.
    Generate(generate::GenerateArgs),
    /// Run one persona-steering method (PDD, SCR, baselines), streaming the answer.
    Run(run::RunArgs),
    /// A steered conversation from standard input: lines are user turns,
    /// `/alpha`, `/beta`, `/k`, `/weights` re-run the last answer, `/reset`.
    Chat(chat::ChatArgs),
    /// Score the MBTI probe items under a method's distribution (accuracy per axis).
    Probe(probe::ProbeArgs),
    /// Build DPO preference pairs for one axis by prompt distillation.
    MakePairs(make_pairs::MakePairsArgs),
    /// Train a LoRA adapter with DPO on preference pairs (PEFT output).
    TrainAdapter(train_adapter::TrainAdapterArgs),
    /// Generate answers at α = −1, 0, +1 per method on an axis's held-out
    /// prompts and score them (pole likelihood ratio, perplexity, loops).
    EvalSteering(eval_steering::EvalSteeringArgs),
    /// Measure prefill and decode speed (and llama.cpp's, side by side).
    Bench(bench::BenchArgs),
}

/// Runs the CLI; errors are printed as one readable line, never a panic trace.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let model = cli.model.unwrap_or_else(default_model_path);
    load::use_kernels(cli.kernels);
    if let Err(e) = use_threads(cli.threads) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Tokenize {
            text,
            parse_special,
        } => tokenize(&model, &text, parse_special),
        Command::Generate(args) => generate::run(&model, args),
        Command::Run(args) => run::run(&model, args),
        Command::Chat(args) => chat::run(&model, args),
        Command::Probe(args) => probe::run(&model, args),
        Command::Bench(args) => bench::run(&model, args),
        Command::MakePairs(args) => make_pairs::run(&model, args),
        Command::TrainAdapter(args) => train_adapter::run(&model, args),
        Command::EvalSteering(args) => eval_steering::run_eval(&model, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every command's thread count: the CPU backend's (on a spin pool of that
/// many threads when the cores allow, else rayon's), and rayon's global pool
/// (candle's products in `train-adapter`), with the main thread as one of
/// its workers so the backend's products run in place.
fn use_threads(threads: Option<usize>) -> crate::Result<()> {
    use crate::backend::cpu::spin_pool::start_native;
    use crate::backend::cpu::threads::{
        default_threads, install_spin_pool, set_default_threads, use_global_pool,
    };
    if let Some(n) = threads {
        set_default_threads(n)?;
    }
    // Backends of the default size run their products on a spin pool (its
    // helpers stay awake between a step's products: decode 1.14x rayon's
    // at 2 threads, interleaved); not past the cores, where a spinning
    // helper would take a core from the thread it waits for.
    let n = default_threads();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    if n > 1 && n <= cores {
        install_spin_pool(start_native(n));
    }
    // Fails only when the global pool already exists (then it stays, and
    // backends use pools of their own).
    let _ = use_global_pool();
    Ok(())
}

fn tokenize(model: &std::path::Path, text: &str, parse_special: bool) -> crate::Result<()> {
    let file = load::read_model(model)?;
    let tokenizer = crate::model::Tokenizer::from_gguf(&file)?;
    let ids = if parse_special {
        tokenizer.encode_with_specials(text)?
    } else {
        tokenizer.encode(text)?
    };
    println!("{}", serde_json::to_string(&ids).expect("ids serialise"));
    Ok(())
}
