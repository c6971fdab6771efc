"""Accuracy against gold: our aggregators vs crowd-kit's, same data, same run.

Run from the repository root::

    python -m benchmarks.aggregation.accuracy --threads 2 \
        --out benchmarks/results/aggregation_accuracy.md

Datasets (all seeded):

* ``movies``: binary votes drawn from the real per-snippet rating lists of the
  movie-review-snippets data of Hutto & Gilbert (2014), shipped inside vaderSentiment's
  sdist (downloaded once into ``~/.cache/crowdclean/vader`` or ``$CROWDCLEAN_CACHE``).
  ``--votes`` ratings per snippet, zeros dropped, vote = sign; votes spread over a pool
  of ``--movie-workers`` simulated worker ids (see ``_data.movie_votes``). Gold polarity:
  ids 1–5152 positive, 5153–10605 negative.
* ``movies+spam``: the same votes with 10 % of the pool's workers turned into coin
  flippers.
* ``sim K=2`` / ``sim K=10``: simulated pools, 10 % uniform spammers, other workers'
  accuracy ~ Beta(17, 3), ``--sim-per-task`` answers per task.

GLAD and MACE are crowd-kit's own implementations behind our adapters, so they are run
once (through the adapter). Spammer detection: ``worker_quality`` against our
DawidSkene labels, flagged when ``spammer_score >= 0.8`` or ``kappa <= 0.1`` with at
least 20 scored answers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _set_threads(n: int) -> None:
    if "numpy" in sys.modules:
        raise RuntimeError("set thread counts before numpy is imported")
    for var in THREAD_VARS:
        os.environ[var] = str(n)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--votes", type=int, default=5, help="votes per movie snippet")
    parser.add_argument("--movie-workers", type=int, default=200)
    parser.add_argument("--sim-tasks", type=int, default=5000)
    parser.add_argument("--sim-workers", type=int, default=300)
    parser.add_argument("--sim-per-task", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=["movies", "movies+spam", "sim2", "sim10"])
    parser.add_argument("--skip-glad", action="store_true", help="GLAD is slow on big data")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    _set_threads(args.threads)

    import pandas as pd

    import aggregation as ag
    from benchmarks.aggregation._data import (
        load_movie_ratings,
        machine_info,
        movie_ratings_path,
        movie_votes,
        simulate_pool,
    )

    warnings.simplefilter("ignore")
    import crowdkit.aggregation as ck

    datasets: dict[str, tuple[pd.DataFrame, pd.Series, set[int] | None]] = {}
    if any(d.startswith("movies") for d in args.datasets):
        ratings, gold = load_movie_ratings(movie_ratings_path())
        gold_s = pd.Series(gold)
        for name, spam in (("movies", 0.0), ("movies+spam", 0.1)):
            if name in args.datasets:
                pool = movie_votes(
                    ratings,
                    votes_per_item=args.votes,
                    n_workers=args.movie_workers,
                    spammer_frac=spam,
                    seed=args.seed,
                )
                spammers = set(pool.spammers.tolist()) if spam else None
                datasets[name] = (pool.frame(), gold_s, spammers)
    for name, k in (("sim2", 2), ("sim10", 10)):
        if name in args.datasets:
            pool = simulate_pool(
                args.sim_tasks * args.sim_per_task,
                args.sim_tasks,
                args.sim_workers,
                k,
                spammer_frac=0.1,
                seed=args.seed + k,
            )
            datasets[name] = (pool.frame(), pool.truth_series(), set(pool.spammers.tolist()))

    methods: list[tuple[str, str, Callable[[], Any]]] = [
        ("MajorityVote", "ours", lambda: ag.MajorityVote()),
        ("MajorityVote", "crowd-kit", lambda: ck.MajorityVote()),
        ("DawidSkene", "ours", lambda: ag.DawidSkene(100, 1e-5)),
        ("DawidSkene", "crowd-kit", lambda: ck.DawidSkene(100, 1e-5)),
        ("OneCoinDawidSkene", "ours", lambda: ag.OneCoinDawidSkene(100, 1e-5)),
        ("OneCoinDawidSkene", "crowd-kit", lambda: ck.OneCoinDawidSkene(100, 1e-5)),
        ("MACE", "crowd-kit via adapter", lambda: ag.MACE(random_state=args.seed)),
    ]
    if not args.skip_glad:
        methods.append(("GLAD", "crowd-kit via adapter", lambda: ag.GLAD()))

    lines_by_ds: list[str] = []
    spam_lines: list[str] = []
    for ds_name, (frame, truth, spammers) in datasets.items():
        n_tasks = frame["task"].nunique()
        header = (
            f"{ds_name}: {len(frame):,} answers, {n_tasks:,} tasks, "
            f"{frame['worker'].nunique():,} workers, K={frame['label'].nunique()}"
        )
        print(header, file=sys.stderr, flush=True)
        ours_labels: dict[str, pd.Series] = {}
        for method, impl, make in methods:
            start = time.perf_counter()
            labels = make().fit_predict(frame)
            seconds = time.perf_counter() - start
            labels = labels.reindex(truth.index.intersection(labels.index))
            acc = float((labels == truth.reindex(labels.index)).mean())
            agree = ""
            if impl == "ours":
                ours_labels[method] = labels
            elif impl == "crowd-kit" and method in ours_labels:
                agree = f"{float((ours_labels[method] == labels).mean()):.4f}"
            row = f"| {ds_name} | {method} | {impl} | {acc:.4f} | {agree} | {seconds:.2f} |"
            print(row, file=sys.stderr, flush=True)
            lines_by_ds.append(row)
        if spammers is not None:
            q = ag.worker_quality(
                frame,
                ours_labels["DawidSkene"],
                spammer_threshold=0.8,
                kappa_threshold=0.1,
                min_answers=20,
            )
            flagged = set(q.index[q["is_spammer"]].tolist())
            tp = len(flagged & spammers)
            prec = tp / len(flagged) if flagged else float("nan")
            spam_lines.append(
                f"| {ds_name} | {len(spammers)} | {len(flagged)} | {tp} | {prec:.3f} | "
                f"{tp / len(spammers):.3f} |"
            )
        lines_by_ds.append(f"|  | *{header}* |  |  |  |  |")

    cmd = "python -m benchmarks.aggregation.accuracy " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = "\n".join(
        [
            "## Accuracy against gold: ours vs crowd-kit",
            "",
            f"- command: `{cmd}`",
            f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine_info()}",
            f"- threads: {args.threads}; seed {args.seed}; EM: n_iter=100, tol=1e-5 on both "
            "sides; MACE: crowd-kit defaults (10 restarts × 50 iterations), random_state=seed",
            "- agreement = share of tasks where ours and crowd-kit give the same label",
            "",
            "| dataset | method | implementation | accuracy | agreement with crowd-kit | "
            "time (s) |",
            "|---|---|---|---|---|---|",
            *lines_by_ds,
            "",
            "Spammer detection (`worker_quality` on our DawidSkene labels, "
            "`spammer_score >= 0.8` or `kappa <= 0.1`, `min_answers=20`):",
            "",
            "| dataset | spammers | flagged | true positives | precision | recall |",
            "|---|---|---|---|---|---|",
            *spam_lines,
            "",
        ]
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
