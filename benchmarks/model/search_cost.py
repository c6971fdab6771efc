"""What the β choice costs: DPM fit time and items/s of a campaign's first model round.

Two fits on the digits pool (1,438 items, 20 % noise, seed 0), the full default grid:

* ``first_round``: what a campaign's first model round fits. Before the evidence design that
  was the β search on a paid validation round (17 crowd-verified items, the 2.8 % budget);
  now it is the crowd-free search on held-out delivered labels. Run this script once per
  code version (``PYTHONPATH`` pointing at a checkout of each) to compare.
* ``crowd_free``: ``fit_label_model`` with no crowd label at all (the ``dpm`` baseline and
  ``crowdclean clean``): before, the fallback β with no search; now the held-out search.

Items/s counts training passes: items × epochs run (search candidates included) / seconds.
One torch thread; the load average is recorded with every timing.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=<checkout> .venv/bin/python benchmarks/model/search_cost.py \
        --label <name> >> benchmarks/model/search_cost.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def main() -> None:
    import torch

    from orchestrator.bench.protocol import load_split
    from orchestrator.data.noise import inject_noise
    from orchestrator.model import ModelConfig, fit_label_model

    ap = argparse.ArgumentParser()
    ap.add_argument("--label", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    pool = load_split("digits").pool
    data = inject_noise(pool, rate=0.2, kind="random", rng=np.random.default_rng(0))
    n = data.n_items
    rng = np.random.default_rng(1)
    val = np.zeros(n, dtype=bool)
    val[rng.choice(n, 17, replace=False)] = True
    observed = np.where(val, data.gold, -1).astype(np.int64)  # stands in for crowd labels
    none = np.full(n, -1, dtype=np.int64)
    setups = {
        # The old first round searched on its validation items; the new one has none.
        "first_round": (observed, val)
        if "validation" in args.label
        else (none, np.zeros(n, dtype=bool)),
        "crowd_free": (none, np.zeros(n, dtype=bool)),
    }
    for name, (obs, v) in setups.items():
        load = os.getloadavg()
        t0 = time.perf_counter()
        out = fit_label_model(data, observed=obs, validation=v, config=ModelConfig(), seed=0)
        seconds = time.perf_counter() - t0
        epochs = int(out.info.get("search_epochs", 0)) + int(out.info.get("epochs_run", 0))
        print(
            json.dumps(
                {
                    "code": args.label,
                    "fit": name,
                    "n_items": n,
                    "beta": out.beta,
                    "epochs": epochs,
                    "seconds": round(seconds, 1),
                    "items_per_s": round(n * epochs / seconds),
                    "accuracy": round(float((out.predicted == data.gold).mean()), 4),
                    "loadavg_1m": round(load[0], 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
