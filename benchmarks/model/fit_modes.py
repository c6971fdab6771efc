"""Diagnostic: is a bad crowd-free fit a bad start (restarts would fix it) or a bad target?

Why: under structural noise the crowd-free DPM scores 0.72–0.95 across seeds on digits, and
issue 12 asks to restart bad fits by a crowd-free criterion. Two measurements, gold read only
to score, the product's default ModelConfig, the same held-out rows as its β search:

* ``restarts``: for each (noise, seed, β), four initialisations (``seed + 1000 r``) trained
  for ``search_epochs`` on the search's split; each one's mean held-out noisy-label
  log-likelihood (the β criterion, nats) and its label accuracy.
* ``curve``: one fit per (dataset, noise, seed, β) for 100 epochs in blocks of 10, the
  held-out log-likelihood and the label accuracy after each block: would stopping on the
  criterion stop near the accuracy peak?

Usage: ``OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/model/fit_modes.py restarts >
benchmarks/model/fit_restarts.jsonl`` (and ``curve > benchmarks/model/fit_curves.jsonl``).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import numpy as np
import torch

from orchestrator.bench.protocol import load_split
from orchestrator.data.noise import inject_noise
from orchestrator.model import ModelConfig, dpm

CONFIG = ModelConfig()


def _search_split(noisy: Any, seed: int) -> Any:
    """The tensors of the crowd-free β search: the held-out rows' labels unseen in training."""
    n = noisy.n_items
    tensors = dpm._prepare(
        noisy, np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool), torch.device("cpu")
    )
    held = dpm.heldout_rows(noisy.noisy_labels, CONFIG.heldout_share, seed)
    seen = np.ones(n, dtype=bool)
    seen[held] = False
    return dataclasses.replace(
        tensors, label_seen=torch.as_tensor(seen), heldout_idx=torch.as_tensor(held)
    )


def _score(net: Any, tensors: Any, noisy: Any, seed: int) -> tuple[float, float]:
    """(mean held-out log p(ŷ | x) in nats, label accuracy against gold)."""
    ll = dpm.heldout_log_likelihood(net, tensors, CONFIG.posterior_samples, seed)
    post, _ = dpm._beliefs(net, tensors, None, CONFIG.posterior_samples, seed)
    return float(ll.mean()), float((post.argmax(1).numpy() == noisy.gold).mean())


def restarts() -> None:
    split = load_split("digits", max_items=None)
    for kind in ("structural", "random"):
        for seed in (0, 1, 2):
            noisy = inject_noise(split.pool, rate=0.2, kind=kind, rng=np.random.default_rng(seed))
            tensors = _search_split(noisy, seed)
            for beta in (0.1, 1.0):
                for r in range(4):
                    init = seed + 1000 * r
                    net = dpm._new_network(noisy, CONFIG, init)
                    dpm._train(
                        net, tensors, CONFIG, beta=beta, max_epochs=CONFIG.search_epochs, seed=init
                    )
                    ll, acc = _score(net, tensors, noisy, seed)
                    row = {"noise": f"{kind}:0.2", "seed": seed, "beta": beta, "restart": r}
                    print(json.dumps({**row, "ll": round(ll, 4), "accuracy": round(acc, 4)}))


def curve() -> None:
    for dataset, max_items in (("digits", None), ("mnist5k", 2000)):
        split = load_split(dataset, max_items=max_items)
        for kind in ("structural", "random"):
            for seed in (0, 1, 2):
                noisy = inject_noise(
                    split.pool, rate=0.2, kind=kind, rng=np.random.default_rng(seed)
                )
                tensors = _search_split(noisy, seed)
                for beta in (0.1, 1.0):
                    net = dpm._new_network(noisy, CONFIG, seed)
                    # Each block keeps its best epoch by the criterion (the search's rule).
                    block = CONFIG.model_copy(update={"patience": 10**6})
                    points = []
                    for b in range(10):
                        dpm._train(
                            net, tensors, block, beta=beta, max_epochs=10, seed=seed + 31 * b
                        )
                        ll, acc = _score(net, tensors, noisy, seed)
                        points.append((10 * (b + 1), round(ll, 4), round(acc, 4)))
                    row = {"dataset": dataset, "noise": f"{kind}:0.2", "seed": seed, "beta": beta}
                    print(json.dumps({**row, "curve": points}), flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"restarts": restarts, "curve": curve}[sys.argv[1]]()
