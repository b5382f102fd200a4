"""Probe accuracy per MBTI axis for the base model and for MPG with the two
prompt experts of the axis, sweeping the first pole's weight (alpha on the
first pole, 1 - alpha on the second). Writes the table into docs/EVALUATION.md.

    python3 scripts/evaluate_prompt_experts.py [--limit 20]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

from doc_sections import replace_section

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "persona"
AXES = [("E-I", "E", "I"), ("S-N", "S", "N"), ("T-F", "T", "F"), ("J-P", "J", "P")]
SWEEP = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


def probe(axis, limit, method, alphas):
    cmd = [str(BIN), "probe", "--method", method, "--axis", axis, "--limit", str(limit), "--json"]
    for name, a in alphas:
        cmd += ["--alpha", f"{name}={a}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["axes"][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=20)
    args = ap.parse_args()
    rows = []
    for axis, first, second in AXES:
        base = probe(axis, args.limit, "base", [])
        sweep = [probe(axis, args.limit, "scr", [(first, a), (second, 1.0 - a)]) for a in SWEEP]
        mod = probe(axis, args.limit, "mod", [(first, 1.0)])
        rows.append((axis, first, second, base, sweep, mod))
        print(axis, base["accuracy"], [s["accuracy"] for s in sweep], mod["accuracy"], file=sys.stderr)
    head = "| axis | items | base | " + " | ".join(f"MPG α={a:+.1f}" for a in SWEEP) + " | first-pole prompt alone |\n"
    head += "|---|---:|---:|" + "---:|" * len(SWEEP) + "---:|\n"
    body = ""
    for axis, first, second, base, sweep, mod in rows:
        cells = " | ".join(f"{s['accuracy']:.2f} ({s['margin']:+.2f})" for s in sweep)
        body += f"| {axis} | {base['items']} | {base['accuracy']:.2f} ({base['margin']:+.2f}) | {cells} | {mod['accuracy']:.2f} ({mod['margin']:+.2f}) |\n"
    section = (
        "## Prompt experts: probe accuracy per axis (training-free MPG)\n\n"
        f"`scripts/evaluate_prompt_experts.py --limit {args.limit}`: the first {args.limit} items of each axis in "
        "`assets/probe/mbti.jsonl` (held out: written for evaluation, never used to build anything), scored by "
        "`persona probe`. Cells: accuracy = share of items whose first-pole completion is more likely, and in "
        "brackets the mean log-likelihood margin (nats). MPG columns use the MPG target "
        "`π_ref · max(0, α r_first + (1 − α) r_second)` with the plain prompt as reference and the two pole prompt "
        "experts of the axis; the last column is the first pole's prompt expert alone (MOD with α = 1, i.e. that "
        "prompt's own likelihood).\n\n" + head + body
    )
    replace_section(ROOT / "docs" / "EVALUATION.md", "## Prompt experts: probe accuracy per axis", section)


if __name__ == "__main__":
    main()
