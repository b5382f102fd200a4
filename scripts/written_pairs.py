"""Preference pairs written by hand (issue "Steering you can see", point 1).

Reads assets/pairs/written/AXIS.tsv (prompt, first-pole answer, second-pole
answer, tab-separated; prompts from assets/prompts/situations.txt), refuses
any prompt that is a probe item or shares most of its words with one, and
writes assets/pairs/AXIS-written.jsonl in `persona make-pairs`' format (the
first pole's answer chosen) with a card beside it.

    python3 scripts/written_pairs.py AXIS
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBES = [ROOT / "assets" / "probe" / "mbti.jsonl", ROOT / "assets" / "probe" / "roleplay.jsonl"]
STOP = set("i a an the my to for of how do should what is in on at with and or it me can be this new".split())


def words(text):
    return {w for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP}


def jaccard(a, b):
    a, b = words(a), words(b)
    return len(a & b) / max(1, len(a | b))


def main():
    axis = sys.argv[1]
    first, second = axis.split("-", 1)
    src = ROOT / "assets" / "pairs" / "written" / f"{axis}.tsv"
    rows = [line.rstrip("\n").split("\t") for line in src.read_text().splitlines() if line.strip()]
    bad = [r for r in rows if len(r) != 3]
    if bad:
        sys.exit(f"{src}: {len(bad)} lines without exactly three tab-separated fields")
    situations = set((ROOT / "assets" / "prompts" / "situations.txt").read_text().splitlines())
    strays = [p for p, _, _ in rows if p not in situations]
    if strays:
        sys.exit(f"{src}: prompts not in assets/prompts/situations.txt: {strays[:3]}")
    probe = [json.loads(l)["prompt"] for p in PROBES for l in p.read_text().splitlines() if l.strip()]
    for prompt, _, _ in rows:
        if prompt in probe:
            sys.exit(f"{src}: '{prompt}' is a probe item")
        near = max(probe, key=lambda p: jaccard(prompt, p))
        if jaccard(prompt, near) > 0.6:
            sys.exit(f"{src}: '{prompt}' is too close to the probe item '{near}'")
    out = ROOT / "assets" / "pairs" / f"{axis}-written.jsonl"
    with out.open("w") as f:
        for prompt, a, b in rows:
            f.write(json.dumps({
                "prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": a}],
                "rejected": [{"role": "assistant", "content": b}],
            }, ensure_ascii=False) + "\n")
    n_words = [len(a.split()) for _, a, _ in rows] + [len(b.split()) for _, _, b in rows]
    card = f"""# Pairs {axis}-written: {first} (chosen) vs {second} (rejected)

Written by `scripts/written_pairs.py {axis}` from `assets/pairs/written/{axis}.tsv`; {len(rows)} pairs in `assets/pairs/{axis}-written.jsonl`.

## How they were made
- Prompts: situations from daily life, work, travel and family (`assets/prompts/situations.txt`, written for this data set), none a probe item and none sharing more than 60% of its content words with one (checked by the script); prompts that ask a probe item's question in other words (e.g. meeting people with similar interests against making friends as an adult) were removed from the list by hand.
- Answers: written by hand by the assistant that develops this project (a large language model), not by SmolLM2-135M. For each prompt one answer in the {first} pole's spirit and one in the {second} pole's, of similar length, register and helpfulness, so that the pair differs in what is suggested rather than in quality or style.
- Caveat: the probe items (`assets/probe/`) were written the same way, so the two share a writer's register; the generation-level evaluation (`persona eval-steering`) is the check that does not depend on it.

## Counts
- {len(rows)} pairs; {sum(n_words) / len(n_words):.1f} words per answer on average (min {min(n_words)}, max {max(n_words)}).
"""
    out.with_suffix(".card.md").write_text(card)
    print(f"{len(rows)} pairs -> {out}")


if __name__ == "__main__":
    main()
