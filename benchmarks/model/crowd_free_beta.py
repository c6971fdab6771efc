"""Diagnostic: the crowd-free DPM's label accuracy at β = 0.1 (the fallback) and β = 1.

Why: crowdclean's β search runs on its paid validation round (14-20 items at a 2.8 % budget),
which cannot tell the two apart on mnist5k or MiniLM (equal validation accuracy, or one item
apart), although the fits differ by 13 points there, in opposite directions. This measures the
gap without any crowd: one fit per (dataset, noise, seed, β) on the benchmark's pools, all 100
epochs, no validation items; gold is read only to score.

Usage (rows are printed as JSON lines):
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/model/crowd_free_beta.py \
        > benchmarks/model/crowd_free_beta.jsonl
"""

from __future__ import annotations

import json
import time

import numpy as np

POOLS = (("digits", None), ("mnist5k", 2000), ("movie-snippets-minilm", 2000))


def main() -> None:
    import torch

    from orchestrator.bench.protocol import load_split
    from orchestrator.data.noise import inject_noise
    from orchestrator.model import ModelConfig, fit_label_model

    torch.set_num_threads(1)
    for dataset, max_items in POOLS:
        split = load_split(dataset, max_items=max_items)
        for kind in ("random", "structural"):
            for seed in (0, 1):
                noisy = inject_noise(
                    split.pool, rate=0.2, kind=kind, rng=np.random.default_rng(seed)
                )
                for beta in (0.1, 1.0):
                    t0 = time.perf_counter()
                    out = fit_label_model(
                        noisy,
                        observed=np.full(noisy.n_items, -1, dtype=np.int64),
                        validation=np.zeros(noisy.n_items, dtype=bool),
                        config=ModelConfig(beta=beta),
                        seed=seed,
                    )
                    row = {
                        "dataset": dataset,
                        "n_items": noisy.n_items,
                        "noise": f"{kind}:0.2",
                        "seed": seed,
                        "beta": beta,
                        "accuracy": round(float((out.predicted == noisy.gold).mean()), 4),
                        "seconds": round(time.perf_counter() - t0, 1),
                    }
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
