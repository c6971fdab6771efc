"""Regret of the crowd-free β choice against the best β in hindsight (gold, benchmark only).

For every cell (dataset pool, noise, seed) of the benchmark grid this fits:

* the product's crowd-free model (``ModelConfig()`` defaults, no crowd label): the β search
  holds 20 % of the delivered labels out and picks β by their log-likelihood through each
  candidate's noise channel (``orchestrator.model.dpm``); its row records every candidate's
  criterion, the chosen β and the fit's label accuracy against gold;
* one fit per grid value with β fixed (fresh initialisation, all epochs, no held-out labels):
  the label accuracy each β would have given.

Regret = best fixed-β accuracy − accuracy of the chosen fit (points of label accuracy); the
fallback's regret (β = 0.1, what a crowd-free fit used before) is beside it. Gold is read only
to score. Rows are appended as JSON lines; `--report` prints the markdown table.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. nice -n 10 .venv/bin/python benchmarks/model/beta_regret.py \
        --out benchmarks/model/beta_regret.jsonl [--datasets digits ...] [--seeds 0 1 2]
    PYTHONPATH=. .venv/bin/python benchmarks/model/beta_regret.py --report \
        --out benchmarks/model/beta_regret.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

POOLS = {"digits": None, "mnist5k": 2000, "movie-snippets": 2000, "movie-snippets-minilm": 2000}


def _done(out: Path) -> set[tuple[str, str, int]]:
    if not out.exists():
        return set()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["dataset"], r["noise"], r["seed"]) for r in rows}


def run(datasets: list[str], noises: list[str], seeds: list[int], out: Path) -> None:
    import torch

    from orchestrator.bench.protocol import load_split
    from orchestrator.data.noise import inject_noise
    from orchestrator.model import ModelConfig, fit_label_model

    torch.set_num_threads(1)
    done = _done(out)
    for dataset in datasets:
        split = load_split(dataset, max_items=POOLS[dataset])
        for kind in noises:
            for seed in seeds:
                if (dataset, f"{kind}:0.2", seed) in done:
                    continue
                noisy = inject_noise(
                    split.pool,
                    rate=0.2,
                    kind=kind,  # type: ignore[arg-type]
                    rng=np.random.default_rng(seed),
                )
                n = noisy.n_items
                none = np.full(n, -1, dtype=np.int64)
                no_val = np.zeros(n, dtype=bool)
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                chosen = fit_label_model(
                    noisy, observed=none, validation=no_val, config=ModelConfig(), seed=seed
                )
                seconds = time.perf_counter() - t0
                fixed: dict[str, float] = {}
                for beta in ModelConfig().beta_grid:
                    fit = fit_label_model(
                        noisy,
                        observed=none,
                        validation=no_val,
                        config=ModelConfig(beta=beta),
                        seed=seed,
                    )
                    fixed[f"{beta:g}"] = round(float((fit.predicted == noisy.gold).mean()), 4)
                row: dict[str, Any] = {
                    "dataset": dataset,
                    "n_items": n,
                    "noise": f"{kind}:0.2",
                    "seed": seed,
                    "accuracy_noisy": round(float((noisy.noisy_labels == noisy.gold).mean()), 4),
                    "chosen_beta": chosen.beta,
                    "chosen_accuracy": round(float((chosen.predicted == noisy.gold).mean()), 4),
                    "criterion": chosen.info["beta_heldout"],
                    "fixed_beta_accuracy": fixed,
                    "seconds_chosen_fit": round(seconds, 1),
                    "loadavg_1m": round(load, 2),
                }
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)


def report(out: Path) -> str:
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    lines = [
        "| dataset | noise | seed | noisy | chosen β | chosen acc | best β (hindsight) | best acc "
        "| regret (pts) | fallback 0.1 regret (pts) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    regrets, fallback_regrets = [], []
    for r in sorted(rows, key=lambda r: (r["dataset"], r["noise"], r["seed"])):
        fixed = r["fixed_beta_accuracy"]
        best_b = max(fixed, key=lambda b: fixed[b])
        regret = 100 * (fixed[best_b] - r["chosen_accuracy"])
        fb = 100 * (fixed[best_b] - fixed["0.1"])
        regrets.append(regret)
        fallback_regrets.append(fb)
        lines.append(
            f"| {r['dataset']} | {r['noise']} | {r['seed']} | {r['accuracy_noisy']:.4f} "
            f"| {r['chosen_beta']:g} | {r['chosen_accuracy']:.4f} | {best_b} "
            f"| {fixed[best_b]:.4f} | {regret:+.1f} | {fb:+.1f} |"
        )
    if rows:
        lines.append(
            f"| **mean** | | {len(rows)} cells | | | | | | {np.mean(regrets):+.2f} "
            f"| {np.mean(fallback_regrets):+.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/model/beta_regret.jsonl"))
    ap.add_argument("--datasets", nargs="+", default=list(POOLS))
    ap.add_argument("--noises", nargs="+", default=["random", "structural"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    if args.report:
        print(report(args.out))
    else:
        run(args.datasets, args.noises, args.seeds, args.out)


if __name__ == "__main__":
    main()
