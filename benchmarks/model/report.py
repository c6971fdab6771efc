"""Render the label-accuracy JSON rows as a Markdown table (mean ± std over seeds).

Usage: python benchmarks/model/report.py benchmarks/results/model_acc.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Any

import numpy as np

METHODS = ["noisy", "dpm", "dpm_beta0", "cleanlab_logreg", "cleanlab_mlp"]


def main() -> None:
    with open(sys.argv[1]) as fh:
        rows = json.load(fh)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["noise"])].append(r)
    print(
        "| dataset | noise (20 %) | seeds | n val | "
        + " | ".join(METHODS)
        + " | β chosen | DPM s |"
    )
    print("|" + "---|" * (len(METHODS) + 6))
    for (ds, noise), rs in groups.items():
        cells = []
        for m in METHODS:
            v = np.array([r[m] for r in rs])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}")
        betas = ",".join(str(r["dpm_beta"]) for r in rs)
        secs = np.mean([r["dpm_seconds"] for r in rs])
        nval = ",".join(str(r["n_validation"]) for r in rs)
        print(
            f"| {ds} | {noise} | {len(rs)} | {nval} | "
            + " | ".join(cells)
            + f" | {betas} | {secs:.0f} |"
        )


if __name__ == "__main__":
    main()
