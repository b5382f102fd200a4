#!/usr/bin/env bash
# Rebuilds the persona-axis adapters: hand-written preference pairs
# (`scripts/written_pairs.py`: assets/pairs/written/AXIS.tsv, prompts from
# assets/prompts/situations.txt, probe items kept out), then two-sided DPO
# with LoRA and the RPO term (`persona train-adapter --two-sided
# --sft-weight 1`) on layers 18–29, two epochs. The six adapters in
# assets/adapters/ were made with exactly these settings (about 10 min per
# adapter at 2 threads). Default: the four MBTI axes (the role-play axes:
# `scripts/train_adapters.sh formal-casual cheerful-gloomy`). The recipe was chosen by the sweep in docs/EVALUATION.md
# ("Adapter recipe sweep"). Then `scripts/evaluate_adapters.py` scores them.
#
#     scripts/train_adapters.sh [AXIS...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
BIN="target/release/persona --threads ${THREADS:-2}"
AXES=("$@")
[ ${#AXES[@]} -gt 0 ] || AXES=(E-I S-N T-F J-P)
for axis in "${AXES[@]}"; do
  python3 scripts/written_pairs.py "$axis"
  $BIN train-adapter --pairs "assets/pairs/$axis-written.jsonl" --out "assets/adapters/$axis" \
    --layers-from 18 --rank 8 --lora-alpha 16 --dropout 0.05 --beta 0.1 --lr 5e-4 \
    --epochs 2 --batch 4 --warmup-steps 10 --hold-out-every 10 --seed 0 --two-sided --sft-weight 1
done
