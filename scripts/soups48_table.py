"""The 48-prompt Soups rows of docs/EVALUATION.md (issue "Steering you can
see", point 3): per axis, the plain model's answers and Soups with the
axis's adapter at alpha = -1 and +1 on all 48 held-out probe prompts,
judged as `scripts/evaluate_steering.py` judges them. Reads the answers
that

    persona eval-steering --axis AXIS --methods soups --limit 48 \
        --out docs/evaluation/steering-AXIS-soups48.jsonl

wrote; prints a Markdown table.

    python3 scripts/soups48_table.py [--axes E-I,S-N,T-F,J-P]
"""
import argparse
import json
from pathlib import Path

from evaluate_steering import OUT, cell_stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--axes", default="E-I,S-N,T-F,J-P")
    args = ap.parse_args()
    print("| axis | α | answers | judge (prompts) | judge (+ shots) | toward first pole | perplexity | × plain | loops |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for axis in args.axes.split(","):
        path = OUT / f"steering-{axis}-soups48.jsonl"
        if not path.exists():
            print(f"| {axis} | – | not run | | | | | | |")
            continue
        rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        cells = {}
        for r in rows:
            cells.setdefault(r["alpha"], []).append(r)
        plain = cell_stats(cells[0.0])
        for alpha in sorted(cells):
            s = cell_stats(cells[alpha])
            loops = round(s["loops"] * s["n"])
            print(f"| {axis} | {alpha:+.0f} | {s['n']} | {s['ratio']:+.3f} | {s['shots']:+.3f} | "
                  f"{s['toward']:.2f} | {s['ppl']:.2f} | {s['ppl'] / plain['ppl']:.2f}x | {loops} of {s['n']} |")


if __name__ == "__main__":
    main()
