"""DPM training throughput (items per second per epoch) on 784-dimensional inputs, 10 classes.

Synthetic Bernoulli pixels (the cost does not depend on the values), default ModelConfig
networks, β > 0 (decoder active) and β = 0, fixed number of epochs, no early stopping.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/model/throughput.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5_000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from orchestrator.data.dataset import FeatureKind, LabeledData
    from orchestrator.model import ModelConfig, fit_label_model

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
    for beta in (1.0, 0.0):
        cfg = ModelConfig(beta=beta, epochs=args.epochs, torch_threads=args.threads)
        t0 = time.perf_counter()
        fit_label_model(data, observed=none, validation=np.zeros(n, bool), config=cfg, seed=0)
        dt = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "beta": beta,
                    "n": n,
                    "epochs": args.epochs,
                    "seconds": round(dt, 2),
                    "items_per_second_per_epoch": round(n * args.epochs / dt),
                }
            )
        )


if __name__ == "__main__":
    main()
