"""CHEF's incremental influence (Increm-INFL) against recomputing from scratch, between rounds.

For a bench cell (dataset, noise, seed) the DPM's latent vectors come from the bench cache
(``crowdclean bench`` computes them; nothing is refitted here). Rounds: the influence
strategy picks ``per_round`` items, their labels are set to the crowd's answer (simulated as
the gold label: only the crowd's effect on the training labels matters for the timing), and
the influence is recomputed for the next round twice: from scratch (Newton from zero) and
incrementally (Newton warm-started from the previous round's head). Each is timed (median of
``repeats``); the rankings' top-``per_round`` overlap says whether the shortcut changes picks.

Usage: ``python benchmarks/seeds/influence_speed.py --dataset digits [--max-items N]``; rows
are appended to ``benchmarks/seeds/influence_speed.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from orchestrator.bench.crowd import without_gold
    from orchestrator.bench.protocol import Noise, _model_source_hash, load_split
    from orchestrator.bench.shared import SharedWork
    from orchestrator.data.noise import inject_noise
    from orchestrator.sampling.influence import evidence_for, label_influence
    from orchestrator.settings import get_settings

    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="digits")
    p.add_argument("--max-items", type=int, default=None)
    p.add_argument("--noise", default="random:0.2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--per-round", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/seeds/influence_speed.jsonl"))
    args = p.parse_args()

    noise = Noise.parse(args.noise)
    cache = get_settings().cache_dir
    split = load_split(args.dataset, max_items=args.max_items, cache_dir=cache)
    noisy = inject_noise(
        split.pool, rate=noise.rate, kind=noise.kind, rng=np.random.default_rng(args.seed)
    )
    n = noisy.n_items
    key = f"{args.dataset}-n{n}-{noise.kind}-{noise.rate:g}-s{args.seed}-m{_model_source_hash()}"
    shared = SharedWork(without_gold(noisy), key, cache_dir=cache / "bench", seed=args.seed)
    post, _ = shared.dpm_posterior()
    latent, _ = shared.dpm_latent()
    k = noisy.n_classes
    labels = noisy.noisy_labels.copy()
    ev_rows, ev_labels = evidence_for(post, None, None)
    prev = label_influence(latent, labels, k, ev_rows, ev_labels)
    picked = np.zeros(n, dtype=bool)
    for rnd in range(1, args.rounds + 1):
        score = np.where(picked, -np.inf, prev.score)
        picks = np.argsort(-score, kind="stable")[: args.per_round]
        picked[picks] = True
        labels[picks] = noisy.gold[picks]
        times: dict[str, list[float]] = {"scratch": [], "incremental": []}
        outs = {}
        for _ in range(args.repeats):
            for mode in ("scratch", "incremental"):
                t0 = time.perf_counter()
                outs[mode] = label_influence(
                    latent,
                    labels,
                    k,
                    ev_rows,
                    ev_labels,
                    init=None if mode == "scratch" else prev.head,
                )
                times[mode].append(time.perf_counter() - t0)
        top = {
            m: set(np.argsort(-np.where(picked, -np.inf, o.score))[: args.per_round].tolist())
            for m, o in outs.items()
        }
        row = {
            "dataset": args.dataset,
            "n_items": n,
            "noise": str(noise),
            "seed": args.seed,
            "round": rnd,
            "changed_labels": int(rnd * args.per_round),
            "scratch_s": round(float(np.median(times["scratch"])), 4),
            "incremental_s": round(float(np.median(times["incremental"])), 4),
            "speedup": round(
                float(np.median(times["scratch"]) / np.median(times["incremental"])), 2
            ),
            "newton_scratch": outs["scratch"].head.iterations,
            "newton_incremental": outs["incremental"].head.iterations,
            "top_overlap": len(top["scratch"] & top["incremental"]) / args.per_round,
            "max_abs_score_diff": float(
                np.abs(outs["scratch"].score - outs["incremental"].score).max()
            ),
            "loadavg_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(row))
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        prev = outs["incremental"]


if __name__ == "__main__":
    main()
