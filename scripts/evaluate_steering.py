"""Generation-level evaluation of steering (issue "Steering you can see",
point 3): `persona eval-steering` per MBTI axis (answers at alpha = -1, 0, +1
for Soups, MOD and SCR with the axis's adapter, PDD with the pole personas,
on the axis's held-out probe prompts), then a table, one chart per axis and
sample answers side by side in docs/EVALUATION.md. Raw answers and scores:
docs/evaluation/steering-AXIS.jsonl.

    python3 scripts/evaluate_steering.py [--limit 12] [--jobs 2] [--axes E-I,T-F] [--no-run]
"""
import argparse
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doc_sections import replace_section
from evaluate_adapters import COLOURS, svg_lines

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "persona"
OUT = ROOT / "docs" / "evaluation"
AXES = ["E-I", "S-N", "T-F", "J-P"]
METHODS = ["soups", "mod", "scr", "pdd"]
LABELS = {"base": "Base", "soups": "Soups", "mod": "MOD", "scr": "SCR", "pdd": "PDD"}


def run(axis, limit, threads):
    out = OUT / f"steering-{axis}.jsonl"
    cmd = [str(BIN), "--threads", str(threads), "eval-steering", "--axis", axis,
           "--limit", str(limit), "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"eval-steering {axis} failed: {r.stderr}")
    print(r.stderr.strip().splitlines()[-1], file=sys.stderr)


def load(axis):
    path = OUT / f"steering-{axis}.jsonl"
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def cell_stats(rows):
    n = len(rows)
    ratio = sum(r["pole_ratio"] for r in rows) / n
    shots = sum(r["pole_ratio_shots"] for r in rows) / n
    toward = sum(r["pole_ratio_shots"] > 0 for r in rows) / n
    ppl = sum(math.exp(r["nll"]) for r in rows) / n
    loops = sum(r["loop"] for r in rows) / n
    return {"n": n, "ratio": ratio, "shots": shots, "toward": toward, "ppl": ppl, "loops": loops}


def summarise(axis, rows):
    cells = {}
    for r in rows:
        cells.setdefault((r["method"], r["alpha"]), []).append(r)
    return {k: cell_stats(v) for k, v in cells.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=12, help="held-out prompts per axis")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--axes", default=",".join(AXES))
    ap.add_argument("--no-run", action="store_true", help="only rewrite the docs from the saved answers")
    args = ap.parse_args()
    axes = args.axes.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.no_run:
        threads = max(1, 2 // args.jobs)
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda a: run(a, args.limit, threads), axes))
    data = {a: load(a) for a in AXES if a in axes and (OUT / f"steering-{a}.jsonl").exists()}
    data = {a: rows for a, rows in data.items() if any(r["method"] == "base" for r in rows)}
    axes = list(data)
    stats = {a: summarise(a, rows) for a, rows in data.items()}

    head = ("| axis | method | α | answers | judge, prompts (nats/token) | judge, prompts + shots | "
            "toward the first pole | perplexity (× base) | loops |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
    body = ""
    moves = []
    for a in axes:
        s = stats[a]
        base = s[("base", 0.0)]
        body += (f"| {a} | Base | 0 | {base['n']} | {base['ratio']:+.3f} | {base['shots']:+.3f} | {base['toward']:.2f} | "
                 f"{base['ppl']:.1f} (1.00) | {base['loops']:.2f} |\n")
        for m in METHODS:
            if (m, 1.0) not in s:
                continue
            for alpha in (-1.0, 1.0):
                c = s[(m, alpha)]
                body += (f"| {a} | {LABELS[m]} | {alpha:+.0f} | {c['n']} | {c['ratio']:+.3f} | {c['shots']:+.3f} | {c['toward']:.2f} | "
                         f"{c['ppl']:.1f} ({c['ppl'] / base['ppl']:.2f}) | {c['loops']:.2f} |\n")
            def way(key):
                lo, mid, hi = s[(m, -1.0)][key], base[key], s[(m, 1.0)][key]
                return "yes" if lo < mid < hi else ("partly" if lo < hi else "NO")
            moves.append(f"{a} {LABELS[m]}: {way('ratio')} / {way('shots')}")
    charts = ""
    for a in axes:
        s = stats[a]
        series = []
        for i, m in enumerate(METHODS):
            if (m, 1.0) in s:
                pts = [(-1, s[(m, -1.0)]["shots"]), (0, s[("base", 0.0)]["shots"]), (1, s[(m, 1.0)]["shots"])]
                series.append((LABELS[m], COLOURS[i], pts))
        ys = [y for _, _, pts in series for _, y in pts]
        lo, hi = min(ys + [0.0]), max(ys + [0.0])
        pad = 0.1 * (hi - lo or 1)
        first, second = a.split("-")
        (OUT / f"steering-{a}.svg").write_text(svg_lines(
            series, f"α (+ toward {first}, − toward {second})", "judge (prompts + shots), nats/token",
            -1, 1, lo - pad, hi + pad, points=True))
        charts += f"![{a}: the judge's pole ratio (prompts + shots) against α](evaluation/steering-{a}.svg)\n"
    samples = ""
    for a in axes:
        rows = [r for r in data[a] if r["prompt_index"] == 0]
        if not rows:
            continue
        first, second = a.split("-")
        samples += f"\n**{a}** — “{rows[0]['prompt']}”\n\n| method | α = −1 (toward {second}) | α = +1 (toward {first}) |\n|---|---|---|\n"
        text = lambda r: r["text"].replace("\n", " ").replace("|", "\\|").strip() or "(empty)"
        base = next(r for r in rows if r["method"] == "base")
        samples += f"| Base (α = 0) | {text(base)} | |\n"
        for m in METHODS:
            pair = {r["alpha"]: r for r in rows if r["method"] == m}
            if len(pair) == 2:
                samples += f"| {LABELS[m]} | {text(pair[-1.0])} | {text(pair[1.0])} |\n"
    counts = sorted({stats[a][("base", 0.0)]["n"] for a in axes})
    n = " or ".join(str(c) for c in counts)
    section = (
        "## Generated answers: a judge, fluency and loops per method and α\n\n"
        f"`scripts/evaluate_steering.py` (`persona eval-steering`): the first {n} held-out probe prompts of each "
        "MBTI axis (`assets/probe/mbti.jsonl`, never used to make pairs), answered greedily in at most 48 tokens "
        "by the plain model (α = 0) and by each method at α = −1 and +1: Soups, MOD and SCR with the axis's "
        "adapter as the only expert (MOD gives the plain model the remaining weight 1 − α), PDD with the pole "
        "personas (+1 the first pole's sentences, −1 the second's: PDD has no negative weight). Scores, all by "
        "the base model, teacher-forced: **judge** = mean log-prob per token after the first pole's context "
        "minus after the second's, the context being the pole's system prompt (`assets/personas/experts.toml`) "
        "alone or followed by the three few-shot turns `make-pairs` uses (`assets/prompts/distill.toml`). A weak "
        "judge: the same 135M model that writes the answers, which barely follows a system prompt alone, and "
        "with shots the very contexts the adapters' pairs were drawn from, so it favours what they learnt; "
        "the probe (above) is the independent measure. \"Toward the first pole\" = share of answers with a "
        "positive judge score (with shots); **perplexity** under the plain chat (mean over answers, and as a multiple of the plain model's "
        "own answers); **loops** = share of answers where some word or token trigram occurs three times. "
        "Raw answers: `docs/evaluation/steering-AXIS.jsonl`.\n\n"
        + head + body
        + "\nThe judge moves the same way as α (−1 below Base below +1; prompts / prompts + shots): "
        + "; ".join(moves) + ".\n\n"
        + charts + "\n### Sample answers (the first prompt of each axis)\n" + samples
    )
    replace_section(ROOT / "docs" / "EVALUATION.md", "## Generated answers: a judge, fluency and loops", section)


if __name__ == "__main__":
    main()
