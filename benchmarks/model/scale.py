"""Sampling + propagation at scale: 1,000,000 items with 32-dimensional latent vectors.

Synthetic latent space: 50 Gaussian blobs (one true class per blob, 10 classes), a Dirichlet
posterior that is right on 90 % of items, 20 % random label noise, 20,000 verified items of
which 5,000 are validation items. Propagation is the campaigns' own: latent regions of about
``--region-items`` items (k-means, :func:`latent_regions`) and :func:`propagate_by_region`.
Runs in a fresh process and reports wall seconds for selection, the regions and propagation,
and the process's peak resident memory (ru_maxrss, which includes the ~0.1-0.2 GiB
interpreter + numpy baseline).

Usage:
    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 python benchmarks/model/scale.py \
        --mode fixed|tuned [--backend auto|numpy|faiss]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--budget", type=int, default=2_000)
    ap.add_argument("--mode", choices=["fixed", "tuned"], default="fixed")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--region-items", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        pass
    from orchestrator.propagation import RegionEvidence, latent_regions, propagate_by_region
    from orchestrator.sampling import SamplingConfig, select_items

    rng = np.random.default_rng(0)
    n, k, blobs = args.n, 10, 50
    blob = rng.integers(0, blobs, n)
    y = blob % k
    centers = rng.normal(0, 4, (blobs, args.dim)).astype(np.float32)
    latent = centers[blob] + rng.normal(0, 1, (n, args.dim)).astype(np.float32)
    pred = np.where(rng.random(n) < 0.9, y, rng.integers(0, k, n))
    posterior = rng.dirichlet(np.ones(k), n) * 0.4
    posterior[np.arange(n), pred] += 0.6
    noisy = np.where(rng.random(n) < 0.2, rng.integers(0, k, n), y)
    verified = rng.choice(n, 20_000, replace=False)
    validation = verified[:5_000]
    inspected = np.zeros(n, dtype=bool)
    inspected[verified] = True
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    cfg = SamplingConfig(backend=args.backend, threads=args.threads)
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    if args.mode == "fixed":
        sel = select_items(
            latent,
            posterior,
            noisy,
            inspected,
            args.budget,
            strategy="uncertainty",
            n_clusters=50,
            rng=rng,
            config=cfg,
        )
    else:
        sel = select_items(
            latent,
            posterior,
            noisy,
            inspected,
            args.budget,
            strategy="auto",
            n_clusters=None,
            validation_idx=validation,
            validation_labels=y[validation],
            rng=rng,
            config=cfg,
        )
    t_sel = time.perf_counter() - t0
    ver = np.concatenate([verified, sel.indices])
    t0 = time.perf_counter()
    regions = latent_regions(latent, k, args.region_items, np.random.default_rng(1))
    t_reg = time.perf_counter() - t0
    t0 = time.perf_counter()
    # The verified items are a uniform sample, so each is also a region check of its region.
    evidence = RegionEvidence(latent, regions, noisy, ver, y[ver], ver, y[ver])
    prop = propagate_by_region(evidence)
    t_prop = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "n": n,
                "dim": args.dim,
                "mode": args.mode,
                "backend": args.backend,
                "strategy": sel.strategy,
                "n_clusters": sel.n_clusters,
                "selected": len(sel.indices),
                "region_items": args.region_items,
                "regions": int(regions.max()) + 1,
                "regions_acted": sum(1 for d in prop.decisions if d.n_relabelled),
                "propagated": len(prop.indices),
                "propagated_accuracy": float((prop.labels == y[prop.indices]).mean())
                if len(prop.indices)
                else None,
                "select_seconds": round(t_sel, 2),
                "regions_seconds": round(t_reg, 2),
                "propagate_seconds": round(t_prop, 2),
                "total_seconds": round(t_sel + t_reg + t_prop, 2),
                "peak_rss_gib": round(peak / 2**20, 3),
                "rss_before_gib": round(base_rss / 2**20, 3),
                "threads": args.threads,
                "loadavg_start": [round(v, 2) for v in load_start],
                "loadavg_end": [round(v, 2) for v in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
