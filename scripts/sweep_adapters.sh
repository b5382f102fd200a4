#!/usr/bin/env bash
# One point of the adapter recipe sweep (issue 17, point 2): trains an
# adapter on an axis's shipped pairs with the given train-adapter options,
# then judges it the two ways docs/EVALUATION.md does — the held-out probe
# (48 items, DPO Soups at α = −1, −0.5, +0.5, +1) and generated answers
# (`eval-steering`, Soups at α = −1, 0, +1 on the first 8 prompts: loops and
# perplexity). Everything lands in target/sweep/NAME{,.log,.probe.json,.steer.jsonl};
# the recipe's other options are the shipped ones (scripts/train_adapters.sh).
#
#     [PAIRS=FILE] scripts/sweep_adapters.sh AXIS NAME [train-adapter options...]
#     e.g. scripts/sweep_adapters.sh E-I E-I-e1 --epochs 1
set -euo pipefail
cd "$(dirname "$0")/.."
axis=$1 name=$2
shift 2
BIN="target/release/persona --threads ${THREADS:-2}"
out=target/sweep/$name
mkdir -p target/sweep
# The shipped recipe, each option unless the sweep's own options name it.
recipe=(--layers-from 24 --rank 8 --lora-alpha 16 --dropout 0.05 --beta 0.1 --lr 5e-4
  --epochs 2 --batch 4 --warmup-steps 10 --hold-out-every 10 --seed 0)
args=()
for ((i = 0; i < ${#recipe[@]}; i += 2)); do
  [[ " $* " == *" ${recipe[i]} "* ]] || args+=("${recipe[i]}" "${recipe[i + 1]}")
done
$BIN train-adapter --pairs "${PAIRS:-assets/pairs/$axis.jsonl}" --out "$out" --two-sided "${args[@]}" "$@" \
  > "$out.log" 2>&1
for a in -1 -0.5 0.5 1; do
  $BIN probe --items assets/probe/mbti.jsonl --axis "$axis" --json --method soups \
    --adapter "A=$out" --alpha "A=$a"
done > "$out.probe.json"
$BIN eval-steering --axis "$axis" --adapter "$out" --methods soups --limit 8 --max-tokens 48 \
  --out "$out.steer.jsonl"
tail -n 1 "$out.log"
