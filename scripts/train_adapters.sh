#!/usr/bin/env bash
# Rebuilds the persona-axis adapters: contrastive preference pairs by prompt
# distillation (`persona make-pairs`), then two-sided DPO with LoRA
# (`persona train-adapter`). The four MBTI axes in assets/adapters/ were
# made with exactly these settings (about 25 min of one core per axis for
# the pairs and ~15 min per adapter); the two role-play adapters still come
# from the earlier recipe (plain pole sampling, one-sided), see their cards.
# Default: the MBTI axes. On a machine shared with other jobs use one thread
# (`persona --threads 1 ...`, or THREADS=1 here): candle's gemm threads otherwise wait on each other (seen at load 16: a
# two-thread, two-epoch run had used 18 CPU-minutes without finishing, where
# single-threaded runs finish one epoch in about 8). Then `scripts/evaluate_adapters.py` scores them.
#
#     scripts/train_adapters.sh [AXIS...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="target/release/persona --threads ${THREADS:-2}"
AXES=("$@")
[ ${#AXES[@]} -gt 0 ] || AXES=(E-I S-N T-F J-P)
mkdir -p assets/pairs
for axis in "${AXES[@]}"; do
  # Contrastive pairs (π_own² / π_other over the two pole contexts), every
  # neutral prompt that is not a probe item, filtered by pole margin,
  # relevance and fluency; the card lands beside them (assets/pairs/$axis.card.md).
  $BIN make-pairs --axis "$axis" --batch 8 --max-tokens 32 \
    --temperature 0.7 --top-p 0.9 --seed 1 --contrast 1 --plausibility 0.1 \
    --min-margin 0.3 --min-relevance 0.3 --min-fluency -3 \
    --out "assets/pairs/$axis.jsonl" --scores "target/pairs-$axis.scores.jsonl"
  # Two-sided DPO (the subtracted adapter learns the second pole), two epochs.
  $BIN train-adapter --pairs "assets/pairs/$axis.jsonl" --out "assets/adapters/$axis" \
    --layers-from 24 --rank 8 --lora-alpha 16 --dropout 0.05 --beta 0.1 --lr 5e-4 \
    --epochs 2 --batch 4 --warmup-steps 10 --hold-out-every 10 --seed 0 --two-sided
done
