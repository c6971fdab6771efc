"""``crowdclean bench``: the benchmark protocol from the command line (see ``benchmarks/``).

Options take several values after one flag (``--seeds 0 1 2``), so the command parses its own
arguments with :mod:`argparse`; ``crowdclean bench --help`` lists them.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import typer

from orchestrator.bench.report import PROTOCOL_METHODS, SEED_METHODS


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``crowdclean bench``."""
    p = argparse.ArgumentParser(
        prog="crowdclean bench",
        description="Run crowdclean and the baselines on the benchmark protocol. Rows go to "
        "OUT_DIR/bench/<dataset>.jsonl (rows already there are skipped, so an interrupted run "
        "resumes); the report to OUT_DIR/results/bench.md with PNG plots.",
    )
    p.add_argument(
        "--dataset",
        nargs="+",
        required=True,
        help="digits | mnist5k | movie-snippets (bag of words) | movie-snippets-minilm",
    )
    p.add_argument(
        "--noise", nargs="+", required=True, help="KIND:RATE, e.g. random:0.2 structural:0.2"
    )
    p.add_argument(
        "--budget",
        nargs="+",
        type=float,
        required=True,
        help="share of the items the crowd budget pays for (3 answers each), e.g. 0.028",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--methods",
        nargs="+",
        default=list(PROTOCOL_METHODS),
        help=f"any of: {' '.join(PROTOCOL_METHODS)} (default: all); diagnostic: "
        f"crowdclean_lean; seed papers: {' '.join(SEED_METHODS)}",
    )
    p.add_argument("--json", dest="as_json", action="store_true", help="print rows as JSON")
    p.add_argument("--out-dir", type=Path, default=Path("benchmarks"))
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("crowdclean-bench"),
        help="scratch space for the cells' databases and simulators",
    )
    p.add_argument("--max-items", type=int, default=None, help="subsample each pool")
    p.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    p.add_argument("--rounds", type=int, default=2, help="crowdclean rounds after validation")
    p.add_argument(
        "--beta-grid",
        nargs="+",
        type=float,
        default=None,
        help="crowdclean's β candidates (default: the product's ModelConfig.beta_grid)",
    )
    p.add_argument(
        "--search-epochs",
        type=int,
        default=None,
        help="epochs per β candidate (default: the product's ModelConfig.search_epochs)",
    )
    p.add_argument(
        "--no-report", dest="report", action="store_false", help="do not rewrite the report"
    )
    p.add_argument("--fresh", action="store_true", help="recompute rows already on disk")
    return p


def bench(ctx: typer.Context) -> None:
    """Run the benchmark protocol (crowdclean bench --help for the options)."""
    args = build_parser().parse_args(ctx.args)
    from threadpoolctl import threadpool_limits

    from orchestrator.bench.protocol import BenchOptions, Noise, run_bench
    from orchestrator.data.errors import MissingExtraError

    command = "crowdclean bench " + " ".join(shlex.quote(a) for a in ctx.args)
    try:
        noises = [Noise.parse(n) for n in args.noise]
    except ValueError as exc:
        typer.echo(f"error: --noise: {exc}", err=True)
        raise typer.Exit(2) from exc
    names = [m for part in args.methods for m in part.replace(",", " ").split()]
    options = BenchOptions(
        rows_dir=args.out_dir / "bench",
        workdir=args.workdir,
        cache_dir=_cache_dir(),
        max_items=args.max_items,
        threads=args.threads,
        rounds=args.rounds,
        beta_grid=None if args.beta_grid is None else tuple(args.beta_grid),
        search_epochs=args.search_epochs,
        resume=not args.fresh,
        command=command,
        log=lambda msg: typer.echo(msg, err=True),
    )
    import torch

    torch.set_num_threads(args.threads)
    try:
        with threadpool_limits(args.threads):
            rows = run_bench(args.dataset, noises, args.budget, args.seeds, names, options)
    except (ValueError, MissingExtraError, ImportError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if args.report:
        from orchestrator.bench.report import write_report

        path = write_report(args.out_dir / "bench", args.out_dir / "results")
        typer.echo(f"report: {path}", err=True)
    if args.as_json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")


def _cache_dir() -> Path:
    from orchestrator.settings import get_settings

    return get_settings().cache_dir


def report_command(out_dir: Path = Path("benchmarks")) -> None:
    """Rewrite results/bench.md and its plots from the rows under bench/."""
    from orchestrator.bench.report import write_report

    typer.echo(str(write_report(out_dir / "bench", out_dir / "results")))


def mount(app: typer.Typer) -> None:
    """Add ``bench`` and ``bench-report`` to the main CLI."""
    app.command(
        "bench",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(bench)
    app.command("bench-report")(report_command)
