"""DPM training throughput (items per second per epoch) on 784-dimensional inputs, 10 classes.

Synthetic Bernoulli pixels (the cost does not depend on the values), default ModelConfig
networks unless overridden, β > 0 (decoder active) and β = 0, no validation items (so no
early stopping and no per-epoch validation pass).

The fit reports the wall time of every epoch's mini-batch updates
(``info["epoch_seconds"]``); the figure is ``n / median(epoch seconds)``, so the one-off
costs of a fit (tensor preparation, the final posterior pass) do not count. A one-epoch
warm-up fit runs first (torch's first-call overheads). Each row records the load average
(1, 5, 15 minutes) before and after.

Usage:
    python benchmarks/model/throughput.py --threads 2 --n 5000 --epochs 5 \
        --out benchmarks/model/throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None, help="default: ModelConfig's")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="append JSON rows here")
    args = ap.parse_args()
    import torch

    from orchestrator.data.dataset import FeatureKind, LabeledData
    from orchestrator.model import ModelConfig, fit_label_model
    from orchestrator.model.dpm import _new_network

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n = args.n
    data = LabeledData(
        ids=np.array([str(i) for i in range(n)]),
        features=(rng.random((n, 784)) < 0.2).astype(np.float32),
        feature_kind=FeatureKind.PIXELS,
        noisy_labels=rng.integers(0, 10, n),
        classes=tuple(str(c) for c in range(10)),
        gold=np.full(n, -1, dtype=np.int64),
        validation=np.zeros(n, dtype=bool),
    )
    none = np.full(n, -1, dtype=np.int64)
    no_val = np.zeros(n, dtype=bool)
    rows = json.loads(args.out.read_text()) if args.out and args.out.exists() else []
    warm = ModelConfig(beta=1.0, epochs=1, torch_threads=args.threads)
    fit_label_model(data, observed=none, validation=no_val, config=warm, seed=0)
    for _ in range(args.repeat):
        for beta in (1.0, 0.0):
            update: dict[str, object] = {
                "beta": beta,
                "epochs": args.epochs,
                "torch_threads": args.threads,
            }
            if args.batch_size:
                update["batch_size"] = args.batch_size
            cfg = ModelConfig().model_copy(update=update)
            params = sum(p.numel() for p in _new_network(data, cfg, 0).parameters())
            load_start = os.getloadavg()
            out = fit_label_model(data, observed=none, validation=no_val, config=cfg, seed=0)
            secs = [float(t) for t in out.info["epoch_seconds"]]  # type: ignore[attr-defined]
            per_epoch = float(np.median(secs))
            row = {
                "beta": beta,
                "n": n,
                "d": 784,
                "classes": 10,
                "threads": args.threads,
                "batch_size": cfg.batch_size,
                "hidden": list(cfg.hidden),
                "latent_dim": cfg.latent_dim,
                "parameters": params,
                "epoch_seconds": [round(t, 3) for t in secs],
                "items_per_second_per_epoch": round(n / per_epoch),
                "loadavg_start": [round(v, 2) for v in load_start],
                "loadavg_end": [round(v, 2) for v in os.getloadavg()],
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.out:
                args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
