"""Tables for ``benchmarks/results/seeds.md`` from the seed rows (``benchmarks/seeds/bench``).

Per dataset × noise: each method's mean ± sd over seeds of the noisy-hit rate (share of
inspected items whose delivered label was wrong), the wrong labels inspected (rate × items),
label accuracy, labels fixed (accuracy gain × items: the crowd's fixes and, for rows whose
labels are the model's argmax, the model's relabels too), dollars, answers bought and items
inspected; then the relabelling protocol's efficiency (labels fixed per answer, ALC's order
against random) and the pair rows' counts.

Usage: ``python benchmarks/seeds/report.py [ROWS_DIR]``; prints Markdown.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ORDER = [
    "random",
    "uncertainty",
    "ce_h",
    "entropy_prop",
    "diffusion_pick",
    "kim_alc",
    "alc_relabel",
    "random_relabel",
    "cincer_pairs",
    "chef_infl",
    "chef_model",
    "chef_anchored",
]


def _fmt(values: list[float], digits: int = 3) -> str:
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return "–"
    return f"{arr.mean():.{digits}f} ± {arr.std():.{digits}f}"


def main() -> None:
    rows_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/seeds/bench")
    rows = [json.loads(line) for f in sorted(rows_dir.glob("*.jsonl")) for line in f.open()]
    cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in rows:
        cells[(r["dataset"], r["noise"])][r["method"]].append(r)
    for (dataset, noise), by_method in sorted(cells.items()):
        any_row = next(iter(by_method.values()))[0]
        print(
            f"\n### {dataset}, {noise}, budget {any_row['budget']:g} "
            f"({any_row['n_items']} items, {any_row['budget_items']} items' worth, "
            f"${any_row['budget_usd']:.2f})\n"
        )
        print(
            "| method | seeds | noisy-hit rate | wrong labels inspected | accuracy | labels fixed "
            "| $ spent | answers | items inspected |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for m in [m for m in ORDER if m in by_method]:
            rs = sorted(by_method[m], key=lambda r: r["seed"])
            fixed = [(r["accuracy"] - r["accuracy_noisy"]) * r["n_items"] for r in rs]
            cols = [
                ",".join(str(r["seed"]) for r in rs),
                _fmt([r["noisy_hit_rate"] for r in rs]),
                _fmt([(r["noisy_hit_rate"] or 0) * r["n_inspected"] for r in rs], 1),
                _fmt([r["accuracy"] for r in rs]),
                _fmt(fixed, 1),
                _fmt([r["spend_usd"] for r in rs], 2),
                _fmt([r["n_answers"] for r in rs], 0),
                _fmt([r["n_inspected"] for r in rs], 0),
            ]
            print(f"| {m} | " + " | ".join(cols) + " |")
        alc, rnd = by_method.get("alc_relabel", []), by_method.get("random_relabel", [])
        if alc and rnd:
            per_seed = []
            for a in alc:
                b = next((r for r in rnd if r["seed"] == a["seed"]), None)
                if b is None:
                    continue
                fa = (a["accuracy"] - a["accuracy_noisy"]) * a["n_items"]
                fb = (b["accuracy"] - b["accuracy_noisy"]) * b["n_items"]
                per_seed.append((a["seed"], fa / a["n_answers"], fb / b["n_answers"], fa, fb))
            print("\nRelabelling efficiency (labels fixed per answer bought, same dollars):")
            for seed, ea, eb, fa, fb in per_seed:
                ratio = f"{ea / eb:.1f}×" if eb > 0 else "∞ (random fixed none)"
                print(
                    f"- seed {seed}: ALC order {ea:.3f} ({fa:.0f} fixed), random {eb:.3f} "
                    f"({fb:.0f} fixed): {ratio}"
                )
        pairs = by_method.get("cincer_pairs", [])
        if pairs:
            print("\nCINCER pairs (crowd majority overturned a delivered label; no gold):")
            for r in sorted(pairs, key=lambda r: r["seed"]):
                e = r.get("extra", r)
                print(
                    f"- seed {r['seed']}: {e.get('pairs_overturned')} of {e.get('n_pairs')} "
                    f"pairs, {e.get('counter_overturned')} of them on the counter-example"
                )


if __name__ == "__main__":
    main()
