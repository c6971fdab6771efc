"""Speed and peak memory of our DawidSkene vs crowd-kit's on a large simulated pool.

Run from the repository root::

    python -m benchmarks.aggregation.speed --threads 2 \
        --out benchmarks/results/aggregation_speed.md

Per number of classes ``K`` the parent process simulates one pool (seeded), stores it as
``.npz`` and starts one fresh child process per implementation, so every measurement has
its own interpreter: the child loads the answers into a pandas frame (``task``, ``worker``,
``label`` as int64), then times ``fit`` (wall clock, ``time.perf_counter``; for us this
includes validation/encoding of the frame) and reports its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the whole process – interpreter, imports,
the answers frame and the fit; the RSS before the fit is reported too). Thread counts of
every BLAS/OpenMP pool are fixed through the environment *before* numpy is imported.
Both sides get the same ``n_iter`` and ``tol`` (crowd-kit stops on its own loss, see
``aggregation.dawid_skene``); the agreement is the share of tasks given the same label.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def _child(impl: str, data: Path, out: Path, n_iter: int, tol: float, repeat: int) -> None:
    import resource
    import warnings

    import numpy as np
    import pandas as pd

    warnings.simplefilter("ignore")
    arrays = np.load(data)
    frame = pd.DataFrame(
        {"task": arrays["task"], "worker": arrays["worker"], "label": arrays["label"]}
    )
    truth = arrays["truth"]
    if impl == "ours":
        import aggregation

        make = lambda: aggregation.DawidSkene(n_iter, tol)  # noqa: E731
    else:
        import crowdkit.aggregation

        make = lambda: crowdkit.aggregation.DawidSkene(n_iter, tol)  # noqa: E731
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeat):
        model = make()
        start = time.perf_counter()
        model.fit(frame)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    labels = model.labels_.reindex(pd.RangeIndex(len(truth))).to_numpy(dtype=np.int64)
    np.save(out / f"{impl}_labels.npy", labels)
    result = {
        "impl": impl,
        "seconds": sorted(times)[len(times) // 2],
        "all_seconds": times,
        "n_iter": len(model.loss_history_),
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "accuracy": float((labels == truth).mean()),
    }
    print(json.dumps(result))


def _run_child(
    impl: str, data: Path, work: Path, args: argparse.Namespace, repeat: int
) -> dict[str, object]:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(args.threads)
    cmd = [
        sys.executable, "-m", "benchmarks.aggregation.speed", "--child", impl,
        "--data", str(data), "--work", str(work), "--n-iter", str(args.n_iter),
        "--tol", repr(args.tol), "--repeat", str(repeat),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=300_000)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--classes", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours (median kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-crowdkit", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here")
    parser.add_argument("--child", choices=["ours", "crowdkit"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.data, args.work, args.n_iter, args.tol, args.repeat)
        return

    import numpy as np

    from benchmarks.aggregation._data import machine_info, simulate_pool

    rows = []
    with tempfile.TemporaryDirectory(prefix="crowdclean-speed-") as tmp:
        work = Path(tmp)
        for k in args.classes:
            pool = simulate_pool(
                args.answers, args.tasks, args.workers, k, spammer_frac=0.1, seed=args.seed
            )
            data = work / f"pool_k{k}.npz"
            np.savez(data, task=pool.task, worker=pool.worker, label=pool.label, truth=pool.truth)
            ours = _run_child("ours", data, work, args, args.repeat)
            print(f"K={k} ours: {ours}", file=sys.stderr, flush=True)
            theirs = None
            agree = float("nan")
            if not args.skip_crowdkit:
                theirs = _run_child("crowdkit", data, work, args, 1)
                print(f"K={k} crowd-kit: {theirs}", file=sys.stderr, flush=True)
                a = np.load(work / "ours_labels.npy")
                b = np.load(work / "crowdkit_labels.npy")
                agree = float((a == b).mean())
            rows.append((k, ours, theirs, agree))

    cmd = "python -m benchmarks.aggregation.speed " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    lines = [
        "## Speed and peak memory: DawidSkene, ours vs crowd-kit",
        "",
        f"- command: `{cmd}`",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine_info()}",
        f"- threads: {args.threads} (all of {', '.join(THREAD_VARS)})",
        f"- data: {args.answers:,} answers, {args.tasks:,} tasks, {args.workers:,} workers, "
        f"10 % uniform spammers, others accuracy ~ Beta(17, 3); seed {args.seed}",
        f"- settings: n_iter={args.n_iter}, tol={args.tol} on both sides; ours: median of "
        f"{args.repeat} fits in one process, crowd-kit: one fit",
        "- peak RSS = `ru_maxrss` of a fresh child process (interpreter + imports + answers "
        "frame + fit); 'before fit' = the same after loading the data",
        "",
        "| K | impl | fit time (s) | iterations | speed-up | peak RSS (MiB) | RSS before fit "
        "(MiB) | accuracy vs truth | label agreement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, ours, theirs, agree in rows:
        speedup = (
            f"{float(theirs['seconds']) / float(ours['seconds']):.1f}×"  # type: ignore[arg-type]
            if theirs
            else "–"
        )
        lines.append(
            f"| {k} | ours | {ours['seconds']:.2f} | {ours['n_iter']} | {speedup} | "
            f"{ours['peak_rss_mib']:.0f} | {ours['rss_before_mib']:.0f} | "
            f"{ours['accuracy']:.4f} | {agree:.5f} |"
        )
        if theirs:
            lines.append(
                f"| {k} | crowd-kit | {theirs['seconds']:.2f} | {theirs['n_iter']} | 1.0× | "
                f"{theirs['peak_rss_mib']:.0f} | {theirs['rss_before_mib']:.0f} | "
                f"{theirs['accuracy']:.4f} | |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
