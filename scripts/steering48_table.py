"""The 48-prompt rows of docs/EVALUATION.md (issue "Steering you can see",
point 3): per axis and method, the plain model's answers and the method at
alpha = -1 and +1 on all 48 held-out probe prompts, judged as
`scripts/evaluate_steering.py` judges them. Reads the answers that

    persona eval-steering --axis AXIS --methods soups --limit 48 \
        --out docs/evaluation/steering-AXIS-soups48.jsonl
    persona eval-steering --axis AXIS --methods mod,scr,pdd --limit 48 \
        --out docs/evaluation/steering-AXIS-methods48.jsonl

wrote (each file has its own plain answers, and "× plain" is against the
file's own; a file's plain row is printed only when it differs from the
axis's first); prints a Markdown table.

    python3 scripts/steering48_table.py [--axes E-I,S-N,T-F,J-P]
"""
import argparse
import json
from pathlib import Path

from evaluate_steering import OUT, cell_stats

FILES = ("soups48", "methods48")
ORDER = ("soups", "mod", "scr", "pdd")


def rows_of(path: Path):
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    cells = {}
    for r in rows:
        cells.setdefault((r["method"], r["alpha"]), []).append(r)
    return cells


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--axes", default="E-I,S-N,T-F,J-P")
    args = ap.parse_args()
    print("| axis | method | α | answers | judge (prompts) | judge (+ shots) | toward first pole | perplexity | × plain | loops |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for axis in args.axes.split(","):
        first_plain = None
        for name in FILES:
            path = OUT / f"steering-{axis}-{name}.jsonl"
            if not path.exists():
                print(f"| {axis} | {name} | – | not run | | | | | | |")
                continue
            cells = rows_of(path)
            plain = cell_stats(cells[("base", 0.0)])
            keys = [("base", 0.0)] + sorted(
                (k for k in cells if k[0] != "base"), key=lambda k: (ORDER.index(k[0]), k[1])
            )
            if first_plain is None:
                first_plain = plain
            elif plain == first_plain:
                keys = keys[1:]
            for method, alpha in keys:
                s = cell_stats(cells[(method, alpha)])
                loops = round(s["loops"] * s["n"])
                label = "plain" if method == "base" else method
                print(f"| {axis} | {label} | {alpha:+.0f} | {s['n']} | {s['ratio']:+.3f} | {s['shots']:+.3f} | "
                      f"{s['toward']:.2f} | {s['ppl']:.2f} | {s['ppl'] / plain['ppl']:.2f}x | {loops} of {s['n']} |")


if __name__ == "__main__":
    main()
