"""The adapter recipe sweep's table (issue 17, point 2) in docs/EVALUATION.md.

Reads every point `scripts/sweep_adapters.sh` left in target/sweep/ (its
training.json, the probe lines and the generated answers), copies them to
docs/evaluation/sweep/ (so the table can be rebuilt from the repository:
`--no-copy`; E-I-contrastive there is the adapter shipped before the written
pairs, its probe figures and Soups answers kept from docs/evaluation/), and writes the section "## Adapter recipe sweep".

    python3 scripts/sweep_table.py [--axes E-I,T-F] [--no-copy]
"""
import argparse
import json
import math
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "evaluation" / "sweep"
HEADING = "## Adapter recipe sweep"


def soups_rows(path):
    rows = [json.loads(line) for line in open(path)]
    by = {}
    for r in rows:
        if r["method"] in ("soups", "base"):
            by.setdefault(r["alpha"], []).append(r)
    return by


def point(name, training, probe, steer):
    t = json.loads(Path(training).read_text())
    by = soups_rows(steer)
    base_nll = sum(r["nll"] for r in by[0.0]) / len(by[0.0])
    cells = {}
    for a in (-1.0, 1.0):
        rs = by[a]
        nll = sum(r["nll"] for r in rs) / len(rs)
        cells[a] = (sum(r["loop"] for r in rs), len(rs), math.exp(nll - base_nll))
    return {
        "name": name,
        "epochs": t["dpo"]["epochs"],
        "lr": t["dpo"]["learning_rate"],
        "rank": t["lora"]["rank"],
        "layers": t["lora"]["layers"][0],
        "sft": t["dpo"].get("sft_weight", 0.0),
        "pairs": "written" if t["pairs"].endswith("-written.jsonl") else "contrastive",
        "probe": probe,
        "loops": cells,
        "base_loops": (sum(r["loop"] for r in by[0.0]), len(by[0.0])),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--axes", default="E-I,S-N,T-F,J-P")
    ap.add_argument("--no-copy", action="store_true")
    args = ap.parse_args()
    axes = args.axes.split(",")
    DOCS.mkdir(parents=True, exist_ok=True)
    if not args.no_copy:
        for log in sorted((ROOT / "target" / "sweep").glob("*.probe.json")):
            name = log.name[: -len(".probe.json")]
            src = ROOT / "target" / "sweep"
            shutil.copy(src / name / "training.json", DOCS / f"{name}.training.json")
            shutil.copy(src / f"{name}.probe.json", DOCS / f"{name}.probe.json")
            shutil.copy(src / f"{name}.steer.jsonl", DOCS / f"{name}.steer.jsonl")
    points = []
    for probe_file in sorted(f for axis in axes for f in DOCS.glob(f"{axis}-*.probe.json")):
        name = probe_file.name[: -len(".probe.json")]
        probe = {}
        for line in open(probe_file):
            d = json.loads(line)
            probe[d["experts"][0]["alpha"]] = d["axes"][0]["accuracy"]
        points.append(point(name, DOCS / f"{name}.training.json", probe, DOCS / f"{name}.steer.jsonl"))
    head = ("| recipe | pairs | epochs | lr | rank | first layer | SFT weight | probe α −1 | −0.5 | +0.5 | +1 | toward the second pole at −1 / the first at +1 "
            "| Soups loops at −1 / +1 (8 answers) | perplexity / base at −1 / +1 |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|\n")
    rows = []
    for p in points:
        pr = p["probe"]
        lm, lp = p["loops"][-1.0], p["loops"][1.0]
        rows.append(f"| {p['name']} | {p['pairs']} | {p['epochs']} | {p['lr']:g} | {p['rank']} | {p['layers']} | {p['sft']:g} | "
                    f"{pr[-1.0]:.2f} | {pr[-0.5]:.2f} | {pr[0.5]:.2f} | {pr[1.0]:.2f} | {1 - pr[-1.0]:.2f} / {pr[1.0]:.2f} | "
                    f"{lm[0]}/{lm[1]} / {lp[0]}/{lp[1]} | {lm[2]:.2f}x / {lp[2]:.2f}x |")
    base_loops = {}
    for p in points:
        axis_loops = base_loops.setdefault(p["name"].split("-")[0] + "-" + p["name"].split("-")[1], [])
        if p["base_loops"] not in axis_loops:
            axis_loops.append(p["base_loops"])
    # Points run before int8 became the default kernel family (the exact
    # kernels) and after it differ in the plain model's answers.
    base = "; ".join(f"{a}: " + " or ".join(f"{n} of {m}" for n, m in b) for a, b in base_loops.items())
    section = (
        f"{HEADING}\n\n"
        f"Axes {', '.join(base_loops)}, two-sided DPO on layers from the row's first layer to 29, the row's rank r (lora_alpha = 2r), β = 0.1, batch 4, seed 0 and the row's "
        "epochs, learning rate and SFT weight (`--sft-weight`: the preferred answer's negative log-likelihood per token "
        f"added to each direction's DPO loss, RPO). Pairs: *contrastive* = assets/pairs/AXIS.jsonl (the model's own answers "
        f"drawn contrastively by `persona make-pairs`, the recipe shipped before), *written* = assets/pairs/AXIS-written.jsonl "
        "(written by hand, `scripts/written_pairs.py`). E-I-contrastive is the adapter shipped before; each other point made by `scripts/sweep_adapters.sh` "
        "(2 threads) and judged like the shipped adapter: the held-out probe (48 items, DPO Soups with the "
        "adapter at α) and Soups answers at α = ±1 to the first 8 eval-steering prompts (`persona eval-steering "
        "--methods soups --limit 8`), a loop being a word or token trigram three times, perplexity under the "
        f"plain chat against the plain model's own answers (which loop on {base}: points made before int8 became the default kernel family count one loop, later ones none). "
        "Raw files: docs/evaluation/sweep/. Table: `python3 scripts/sweep_table.py`.\n\n"
        + head + "\n".join(rows) + "\n\n"
    )
    doc = ROOT / "docs" / "EVALUATION.md"
    text = doc.read_text()
    if HEADING in text:
        start = text.index(HEADING)
        nxt = text.find("\n## ", start + len(HEADING))
        text = text[:start] + section.rstrip("\n") + "\n" + (text[nxt:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    doc.write_text(text.rstrip("\n") + "\n")
    print(section)


if __name__ == "__main__":
    main()
