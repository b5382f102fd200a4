#!/usr/bin/env bash
# Rebuilds the shipped persona-axis adapters: preference pairs by prompt
# distillation (`persona make-pairs`), then DPO with LoRA (`persona
# train-adapter`), for the four MBTI axes and the two role-play axes. These
# are the exact settings the adapters in assets/adapters/ were made with
# (about 20 min of one core per axis for the pairs and ~8 min of one core
# per adapter). On a machine shared with other jobs set RAYON_NUM_THREADS=1:
# candle's gemm threads otherwise wait on each other (seen at load 16: a
# two-thread, two-epoch run had used 18 CPU-minutes without finishing, where
# single-threaded runs finish one epoch in about 8). Then `scripts/evaluate_adapters.py` scores them.
#
#     scripts/train_adapters.sh [AXIS...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN=target/release/persona
AXES=("$@")
[ ${#AXES[@]} -gt 0 ] || AXES=(E-I S-N T-F J-P formal-casual cheerful-gloomy)
mkdir -p assets/pairs
for axis in "${AXES[@]}"; do
  # T-F takes two epochs: after one its α sweep dipped at −0.5 (0.25 → 0.21);
  # after two it is monotone (0.19, 0.19, 0.31, 0.42, 0.69) and stronger.
  epochs=1
  [ "$axis" = T-F ] && epochs=2
  # S-N is trained two-sided: one-sided, subtracting the adapter (α = −1)
  # moved the probe back toward S (0.60 vs base 0.48); two-sided it moves to
  # N (0.33) and the sweep is monotone.
  two_sided=()
  [ "$axis" = S-N ] && two_sided=(--two-sided)
  # Contrastive pairs (π_own² / π_other over the two pole contexts), every
  # neutral prompt that is not a probe item, filtered by pole margin,
  # relevance and fluency; the card lands beside them (assets/pairs/$axis.card.md).
  "$BIN" make-pairs --axis "$axis" --batch 8 --max-tokens 32 \
    --temperature 0.7 --top-p 0.9 --seed 1 --contrast 1 --plausibility 0.1 \
    --min-margin 0.3 --min-relevance 0.3 --min-fluency -3 \
    --out "assets/pairs/$axis.jsonl" --scores "target/pairs-$axis.scores.jsonl"
  "$BIN" train-adapter --pairs "assets/pairs/$axis.jsonl" --out "assets/adapters/$axis" \
    --layers-from 24 --rank 8 --lora-alpha 16 --dropout 0.05 --beta 0.1 --lr 5e-4 \
    --epochs "$epochs" --batch 4 --warmup-steps 10 --hold-out-every 10 --seed 0 "${two_sided[@]}"
done
