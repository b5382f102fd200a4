"""Scores the shipped DPO adapters on their own axis with `persona probe`
(held-out items: assets/probe/mbti.jsonl, assets/probe/roleplay.jsonl), for
the base model and an alpha sweep of the adapter in weight space (DPO Soups
with one adapter: the delta scaled by alpha; alpha = 0 is the base model).
Writes each adapter's card.md and curve.svg, docs/evaluation/adapters.json,
docs/evaluation/adapter_sweep.svg and the adapter section of docs/EVALUATION.md.

    python3 scripts/evaluate_adapters.py [--jobs 2] [--axes E-I,S-N]
"""
import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doc_sections import replace_section

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "persona"
AXES = {
    "E-I": ("mbti", "extraverted", "introverted"),
    "S-N": ("mbti", "sensing", "intuitive"),
    "T-F": ("mbti", "thinking", "feeling"),
    "J-P": ("mbti", "judging", "perceiving"),
    "formal-casual": ("roleplay", "formal", "casual"),
    "cheerful-gloomy": ("roleplay", "cheerful", "gloomy"),
}
SWEEP = [-1.0, -0.5, 0.5, 1.0]
COLOURS = ["#1b6ca8", "#d1495b", "#2a9d8f", "#e9a03b", "#7b4fa0", "#5c6b73"]


def probe(axis, alpha):
    items = ROOT / "assets" / "probe" / f"{AXES[axis][0]}.jsonl"
    cmd = [str(BIN), "probe", "--items", str(items), "--axis", axis, "--json"]
    if alpha == 0.0:
        cmd += ["--method", "base"]
    else:
        cmd += ["--method", "soups", "--adapter", f"A={ROOT / 'assets' / 'adapters' / axis}",
                "--alpha", f"A={alpha}"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"probe {axis} alpha {alpha} failed: {out.stderr}")
    return json.loads(out.stdout)["axes"][0]


def svg_lines(series, xs_label, ys_label, xmin, xmax, ymin, ymax, width=560, height=320, points=None):
    """A small line chart: series = [(name, colour, [(x, y)])]."""
    left, right, top, bottom = 56, 150, 16, 44
    pw, ph = width - left - right, height - top - bottom
    sx = lambda x: left + (x - xmin) / (xmax - xmin) * pw
    sy = lambda y: top + (1 - (y - ymin) / (ymax - ymin)) * ph
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for i in range(5):
        y = ymin + (ymax - ymin) * i / 4
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for i in range(5):
        x = xmin + (xmax - xmin) * i / 4
        label = f"{x:.0f}" if xmax - xmin > 10 else f"{x:g}"
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{xs_label}</text>')
    out.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2})">{ys_label}</text>')
    for k, (name, colour, pts) in enumerate(series):
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if points:
            for x, y in pts:
                out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 14 + 18 * k
        out.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 30}" y1="{ly - 4}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>'
                   f'<text x="{left + pw + 36}" y="{ly}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


def training_curve(axis, training):
    steps = training["log"]["steps"]
    window = 8
    smooth = []
    for i in range(len(steps)):
        part = steps[max(0, i - window + 1): i + 1]
        smooth.append((steps[i]["step"], sum(s["loss"] for s in part) / len(part)))
    evals = [(e["step"], e["loss"]) for e in training["log"]["evals"]]
    ymax = max([l for _, l in smooth] + [l for _, l in evals] + [0.75])
    series = [("train loss (mean of 8)", COLOURS[0], smooth), ("held-out loss", COLOURS[1], evals)]
    return svg_lines(series, "step", "DPO loss", 0, max(1, steps[-1]["step"]), 0, ymax, points=True)


def card(axis, training, results, size):
    kind, first, second = AXES[axis]
    lora, dpo, log = training["lora"], training["dpo"], training["log"]
    evals = log["evals"]
    sweep = " | ".join(f"{results[str(a)]['accuracy']:.2f} ({results[str(a)]['margin']:+.2f})" for a in [-1.0, -0.5, 0.0, 0.5, 1.0])
    e0, e1 = evals[0], evals[-1]
    two_sided = ""
    reverse = ""
    if dpo.get("two_sided"):
        two_sided = (
            "\n- Two-sided (`--two-sided`): each step also trains the subtracted adapter\n"
            "  (α = −1) to prefer the rejected answer; the loss is the mean of both directions."
        )
        reverse = f" The subtracted adapter's reverse margin (toward {second}): {e1['reverse_margin']:+.3f}."
    sft = ""
    if dpo.get("sft_weight", 0) > 0:
        sft = (f"\n- RPO term (`--sft-weight {dpo['sft_weight']:g}`): each direction's loss adds the preferred answer's\n"
               f"  negative log-likelihood per token, which keeps the steered model fluent.")
    pairs_card = ROOT / "assets" / "pairs" / f"{axis}.card.md"
    n_pairs = training['train_pairs'] + training['held_out_pairs']
    if training["pairs"].endswith(f"{axis}-written.jsonl"):
        data = (f"- {n_pairs} DPO preference pairs, `assets/pairs/{axis}-written.jsonl`, written by hand\n"
                f"  (`scripts/written_pairs.py {axis}` from `assets/pairs/written/{axis}.tsv`): for each\n"
                f"  prompt of `assets/prompts/situations.txt` used, one answer in the {first} pole's spirit and one in\n"
                f"  the {second} pole's, of similar length and quality; probe prompts kept out. How, and the caveat\n"
                f"  about the writer: [`assets/pairs/{axis}-written.card.md`](../../pairs/{axis}-written.card.md).")
    elif pairs_card.exists():
        data = (f"- {n_pairs} DPO preference pairs, `assets/pairs/{axis}.jsonl`, made by\n"
                f"  `persona make-pairs --axis {axis}` (see `scripts/train_adapters.sh`): contrastive\n"
                f"  answers under the {first} and {second} pole contexts, filtered by pole margin,\n"
                f"  relevance, fluency and loops, probe prompts left out; how, and the counts:\n"
                f"  [`assets/pairs/{axis}.card.md`](../../pairs/{axis}.card.md). The pair's prompt is the bare user message.")
    else:
        data = (f"- {n_pairs} DPO preference pairs, `assets/pairs/{axis}.jsonl`, made by\n"
                f"  the earlier recipe (today `persona make-pairs --axis {axis} --limit 300 --contrast 0\n"
                f"  --min-margin -99 --min-relevance -99`): for each of\n"
                f"  the first 300 prompts of `assets/prompts/neutral.txt` the base model answered\n"
                f"  twice, after the {first} pole's system prompt and three few-shot turns in its\n"
                f"  style (`assets/personas/experts.toml`, `assets/prompts/distill.toml`) — chosen — and after\n"
                f"  the {second} pole's — rejected; temperature 0.7, top-p 0.9, at most 32 tokens,\n"
                f"  pairs with a looping answer dropped. The pair's prompt is the bare user\n"
                f"  message.")
    return f"""# Adapter {axis}: {first} vs {second}

A LoRA adapter for SmolLM2-135M-Instruct that moves answers along one axis:
positive α pushes toward **{first}**, negative α toward **{second}**. PEFT
format (`adapter_config.json`, `adapter_model.safetensors`, {size / 1e6:.1f} MB).

## Data
{data}
- Held out: every 10th pair ({training['held_out_pairs']}); trained on {training['train_pairs']}.

## Settings
- LoRA: r = {lora['rank']}, lora_alpha = {lora['alpha']:g}, dropout {lora['dropout']:g}, layers {lora['layers'][0]}–{lora['layers'][-1]},
  modules {', '.join(m.lower() for m in lora['modules'])}.
- DPO: β = {dpo['beta']:g}, AdamW lr {dpo['learning_rate']:g} ({dpo['warmup_steps']} warm-up steps), batch {dpo['batch']} pairs,
  {dpo['epochs']} epoch{'s' if dpo['epochs'] > 1 else ''} = {len(log['steps'])} steps, seed {training['seed']}.{two_sided}{sft}
- `persona train-adapter` on the CPU ({training['threads']} thread{'s' if training['threads'] > 1 else ''}, on a shared 2-core machine, timings noisy): preparation (frozen
  layers and reference log-probs, once) {log['prepare_seconds']:.0f} s, {log['mean_step_ms'] / 1000:.1f} s per step.

## Training curve
![DPO loss per step and on the held-out pairs](curve.svg)

Held-out pairs: loss {e0['loss']:.3f} → {e1['loss']:.3f}, reward margin {e0['margin']:+.3f} → {e1['margin']:+.3f},
preference accuracy {e0['accuracy']:.2f} → {e1['accuracy']:.2f}.{reverse}

## Evaluation
`persona probe` on the {results['0.0']['items']} held-out items of axis {axis} in
`assets/probe/{kind}.jsonl` (never used in training): accuracy = share of items
whose {first} completion is more likely, mean margin in nats in brackets. α
scales the adapter's delta (DPO Soups with one adapter); α = 0 is the base model.

| α = −1 | α = −0.5 | α = 0 (base) | α = +0.5 | α = +1 |
|---:|---:|---:|---:|---:|
| {sweep} |
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--axes", default=",".join(AXES))
    ap.add_argument("--no-probe", action="store_true", help="rewrite cards and docs from docs/evaluation/adapters.json")
    args = ap.parse_args()
    axes = [a for a in args.axes.split(",") if (ROOT / "assets" / "adapters" / a).is_dir()]
    results_path = ROOT / "docs" / "evaluation" / "adapters.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    jobs = [] if args.no_probe else [(axis, a) for axis in axes for a in [0.0] + SWEEP]
    with ThreadPoolExecutor(args.jobs) as pool:
        for (axis, a), r in zip(jobs, pool.map(lambda j: probe(*j), jobs)):
            results.setdefault(axis, {})[str(a)] = r
            print(axis, a, r["accuracy"], r["margin"], file=sys.stderr)
    results_path.write_text(json.dumps(results, indent=1) + "\n")

    for axis in axes:
        d = ROOT / "assets" / "adapters" / axis
        training = json.loads((d / "training.json").read_text())
        (d / "curve.svg").write_text(training_curve(axis, training))
        size = (d / "adapter_model.safetensors").stat().st_size
        (d / "card.md").write_text(card(axis, training, results[axis], size))

    shown = [a for a in AXES if a in results]
    alphas = [-1.0, -0.5, 0.0, 0.5, 1.0]
    series = [(a, COLOURS[i % len(COLOURS)], [(x, results[a][str(x)]["accuracy"]) for x in alphas])
              for i, a in enumerate(shown)]
    (ROOT / "docs" / "evaluation" / "adapter_sweep.svg").write_text(
        svg_lines(series, "α (adapter scale; + toward the first pole)", "probe accuracy (first pole)",
                  -1, 1, 0, 1, points=True))
    head = "| axis | items | " + " | ".join(f"α={x:+.1f}" + (" (base)" if x == 0 else "") for x in alphas) + " | toward the second pole at −1 | toward the first at +1 | adapter beats base | monotone |\n"
    head += "|---|---:|" + "---:|" * len(alphas) + "---:|---:|---|---|\n"
    body = ""
    for a in shown:
        accs = [results[a][str(x)]["accuracy"] for x in alphas]
        cells = " | ".join(f"{results[a][str(x)]['accuracy']:.2f} ({results[a][str(x)]['margin']:+.2f})" for x in alphas)
        beats = accs[-1] > accs[2]
        monotone = all(accs[i] <= accs[i + 1] for i in range(len(accs) - 1))
        body += (f"| {a} | {results[a]['0.0']['items']} | {cells} | {1 - accs[0]:.2f} | {accs[-1]:.2f} | "
                 f"{'yes' if beats else 'NO'} | {'yes' if monotone else 'NO'} |\n")
    section = (
        "## DPO adapters: probe accuracy per axis and α sweep\n\n"
        "`scripts/evaluate_adapters.py`: every held-out probe item of the adapter's own axis "
        "(`assets/probe/mbti.jsonl`, `assets/probe/roleplay.jsonl`; never used in training), scored by "
        "`persona probe`. α scales the adapter's delta in weight space (DPO Soups with one adapter), so α = +1 is "
        "the adapter as trained, α = 0 the base model and α < 0 the adapter subtracted. Cells: accuracy (mean "
        "margin in nats). \"Monotone\" means accuracy never falls as α rises. Cards with data, settings and "
        "training curves: `assets/adapters/*/card.md`.\n\n"
        + head + body + "\n![Probe accuracy against α per axis](evaluation/adapter_sweep.svg)\n"
    )
    replace_section(ROOT / "docs" / "EVALUATION.md", "## DPO adapters: probe accuracy per axis", section)


if __name__ == "__main__":
    main()
