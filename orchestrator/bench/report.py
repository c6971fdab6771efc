"""The benchmark report: Markdown tables (mean ± std over seeds) and PNG plots.

:func:`write_report` reads every row under ``benchmarks/bench/`` and rewrites
``benchmarks/results/bench.md`` plus one ``bench-<dataset>-<noise>.png`` per dataset × noise
(label accuracy against budget, one line per method). Hand-written analysis lives in
``benchmarks/results/bench-notes.md`` and is included verbatim at the top, so regenerating the
tables never loses it. Plots need matplotlib (extra ``bench``).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.bench.protocol import read_rows
from orchestrator.bench.rules import check_rules, rules_table

REFERENCE_BUDGET = 0.028
CROWDCLEAN = "crowdclean"
# crowdclean's row and its ablations, in report order.
CROWDCLEAN_ROWS = (
    CROWDCLEAN,
    "crowdclean_noprop",
    "crowdclean_argmax",
    "crowdclean_c1",
    "crowdclean_lean",
)
# Rows that are not competitors: crowdclean's own and the gold-informed ceiling.
NOT_BASELINES = {*CROWDCLEAN_ROWS, "oracle"}
METHOD_ORDER = (
    "original",
    "dpm",
    "random",
    "verified_only",
    "uncertainty",
    "cleanlab_lr",
    "cleanlab_lr_replace",
    "cleanlab_mlp",
    "cleanlab_mlp_replace",
    "activelab",
    *CROWDCLEAN_ROWS,
    "oracle",
)
# The seed papers' rows (orchestrator.bench.seed_methods), run on request and reported in
# benchmarks/results/seeds.md.
SEED_METHODS = (
    "entropy_prop",
    "diffusion_pick",
    "kim_alc",
    "alc_relabel",
    "random_relabel",
    "ce_h",
    "cincer_pairs",
    "chef_infl",
    "chef_model",
    "chef_anchored",
)
# The protocol's methods; ``crowdclean_lean`` is a diagnostic, run only on request.
PROTOCOL_METHODS = tuple(m for m in METHOD_ORDER if m != "crowdclean_lean")
# What a cell needs to count as run: the ``c = 1`` ablation is a second whole campaign per
# seed, run where its question is asked (the 2.8 % cells), not a condition of the verdicts.
REQUIRED_METHODS = tuple(m for m in PROTOCOL_METHODS if m != "crowdclean_c1")


def _import_pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "benchmark plots need matplotlib: pip install 'crowdclean[bench]'"
        ) from exc
    return plt


def _stat(values: list[Any]) -> tuple[float, float, int]:
    arr = np.asarray([v for v in values if v is not None], dtype=np.float64)
    if arr.size == 0:
        return math.nan, math.nan, 0
    return float(arr.mean()), float(arr.std(ddof=0)), int(arr.size)


def _fmt(stat: tuple[float, float, int], digits: int = 3) -> str:
    mean, std, n = stat
    if n == 0 or math.isnan(mean):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" + ("" if n >= 3 else f" (n={n})")


def _order(methods: set[str]) -> list[str]:
    known = [m for m in METHOD_ORDER if m in methods]
    return known + sorted(methods - set(known))


def dataset_label(row: dict[str, Any]) -> str:
    """The dataset's name, with the pool size when the run subsampled it (``--max-items``)."""
    if row.get("max_items") is not None:
        return f"{row['dataset']} (pool subsample {row['n_items']})"
    return str(row["dataset"])


def protocol_grid() -> list[tuple[str, str, float]]:
    """Every (dataset, noise, budget) cell the issue's protocol asks for."""
    from orchestrator.bench.protocol import DATASETS

    grid = [
        (d, n, b)
        for d in DATASETS
        for n in ("random:0.2", "structural:0.2")
        for b in (0.01, 0.028, 0.05)
    ]
    return grid + [("digits", f"random:{r:g}", 0.028) for r in (0.1, 0.3, 0.4)]


def missing_cells(rows: list[dict[str, Any]], n_seeds: int = 3) -> list[str]:
    """Markdown lines: protocol cells without every method on ``n_seeds`` full-pool seeds."""
    seen: dict[tuple[str, str, float, str], set[int]] = defaultdict(set)
    for r in rows:
        if r.get("max_items") is None:
            key = (r["dataset"], r["noise"], round(float(r["budget"]), 6), r["method"])
            seen[key].add(int(r["seed"]))
    out = []
    for d, n, b in protocol_grid():
        have = min(len(seen[(d, n, round(b, 6), m)]) for m in REQUIRED_METHODS)
        if have >= n_seeds:
            continue
        out.append(
            f"- {d}, {n}, {100 * b:g} % ({have}/{n_seeds} seeds with every method): "
            f"`crowdclean bench --dataset {d} --noise {n} --budget {b:g} --seeds 0 1 2`"
        )
    return out


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str, float, str], dict[str, Any]]:
    """(dataset, noise, budget, method) → mean/std/n of each metric over seeds."""
    groups: dict[tuple[str, str, float, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        key = (dataset_label(r), r["noise"], round(float(r["budget"]), 6), r["method"])
        groups[key].append(r)
    out: dict[tuple[str, str, float, str], dict[str, Any]] = {}
    for key, rs in groups.items():
        # One row per seed: the latest wins if a seed was recomputed (--fresh).
        by_seed = {int(r["seed"]): r for r in rs}
        rs = list(by_seed.values())
        out[key] = {
            "seeds": sorted(by_seed),
            "accuracy_by_seed": {sd: float(r["accuracy"]) for sd, r in by_seed.items()},
            **{
                m: _stat([r.get(m) for r in rs])
                for m in (
                    "accuracy",
                    "auc",
                    "noisy_hit_rate",
                    "spend_usd",
                    "seconds",
                    "downstream_accuracy",
                    "accuracy_noisy",
                    "n_inspected",
                    "budget_usd",
                )
            },
        }
    return out


def verdicts(
    summary: dict[tuple[str, str, float, str], dict[str, Any]], budget: float = REFERENCE_BUDGET
) -> list[dict[str, Any]]:
    """Per (dataset, noise) at ``budget``: crowdclean's mean accuracy against the best baseline.

    Means are taken over the seeds crowdclean and the baseline both have (a seed that only one
    side ran would otherwise decide the comparison); ``seeds`` is the fewest such seeds.
    """
    cells = sorted({(d, n) for d, n, b, _m in summary if abs(b - budget) < 1e-9})
    out: list[dict[str, Any]] = []
    for d, n in cells:
        here = {
            m: s
            for (dd, nn, b, m), s in summary.items()
            if (dd, nn) == (d, n) and abs(b - budget) < 1e-9
        }
        cc = here.get(CROWDCLEAN)
        base = {m: s for m, s in here.items() if m not in NOT_BASELINES and s["accuracy"][2] > 0}
        if cc is None or not base:
            out.append({"dataset": d, "noise": n, "status": "incomplete", "beaten_by": []})
            continue
        cc_seeds = cc["accuracy_by_seed"]
        pairs: dict[str, tuple[float, float, int]] = {}
        for m, s in base.items():
            common = sorted(set(cc_seeds) & set(s["accuracy_by_seed"]))
            if common:
                pairs[m] = (
                    float(np.mean([cc_seeds[sd] for sd in common])),
                    float(np.mean([s["accuracy_by_seed"][sd] for sd in common])),
                    len(common),
                )
        if not pairs:
            out.append({"dataset": d, "noise": n, "status": "incomplete", "beaten_by": []})
            continue
        best = max(pairs, key=lambda m: pairs[m][1] - pairs[m][0])
        beaten_by = sorted(m for m, (c, b, _k) in pairs.items() if b > c + 1e-9)
        out.append(
            {
                "dataset": d,
                "noise": n,
                "status": "at or above every baseline" if not beaten_by else "below",
                "crowdclean": cc["accuracy"][0],
                "best_baseline": best,
                "best_accuracy": pairs[best][1],
                "margin": pairs[best][0] - pairs[best][1],
                "beaten_by": beaten_by,
                "seeds": min(k for _c, _b, k in pairs.values()),
            }
        )
    return out


def _plot(
    summary: dict[tuple[str, str, float, str], dict[str, Any]],
    dataset: str,
    noise: str,
    path: Path,
) -> None:
    plt = _import_pyplot()
    here = {(b, m): s for (d, n, b, m), s in summary.items() if (d, n) == (dataset, noise)}
    methods = _order({m for _b, m in here})
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = plt.get_cmap("tab20")
    for i, m in enumerate(methods):
        pts = sorted((b, s["accuracy"]) for (b, mm), s in here.items() if mm == m)
        if not pts:
            continue
        xs = [100 * b for b, _ in pts]
        ys = [a[0] for _, a in pts]
        es = [a[1] for _, a in pts]
        style = "-" if m.startswith("crowdclean") else ("--" if m == "oracle" else ":")
        width = 2.4 if m == CROWDCLEAN else 1.2
        ax.errorbar(
            xs,
            ys,
            yerr=es,
            label=m,
            color=colors(i % 20),
            linestyle=style,
            linewidth=width,
            marker="o",
            ms=3,
        )
    ax.set_xlabel("crowd budget (% of items, 3 answers each)")
    ax.set_ylabel("label accuracy vs gold (all items)")
    ax.set_title(f"{dataset}, {noise} noise (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(rows_dir: Path, results_dir: Path, *, plots: bool = True) -> Path:
    """Rewrite ``results_dir/bench.md`` (and the PNGs) from every row in ``rows_dir``."""
    rows = read_rows(rows_dir)
    summary = summarise(rows)
    results_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = ["# Benchmark: crowdclean against the tools users would pick instead", ""]
    notes = results_dir / "bench-notes.md"
    if notes.exists():
        lines += [notes.read_text("utf-8").rstrip(), ""]
    budgets_run = sorted({b for _d, _n, b, _m in summary})
    ordered = [REFERENCE_BUDGET] + [b for b in budgets_run if abs(b - REFERENCE_BUDGET) > 1e-9]
    for budget in ordered:
        table = verdicts(summary, budget)
        if not table:
            continue
        lines += [
            f"## Verdict at {100 * budget:g} % (mean label accuracy over common seeds)",
            "",
            "`margin` is crowdclean minus the baseline closest to (or furthest above) it, over "
            "the seeds both ran.",
            "",
            "| dataset | noise | seeds | crowdclean | strongest baseline | margin | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for v in table:
            if v["status"] == "incomplete":
                lines.append(f"| {v['dataset']} | {v['noise']} | – | – | – | – | incomplete |")
                continue
            verdict = (
                "**at or above every baseline**"
                if not v["beaten_by"]
                else "below: " + ", ".join(v["beaten_by"])
            )
            lines.append(
                f"| {v['dataset']} | {v['noise']} | {v['seeds']} | {v['crowdclean']:.4f} | "
                f"{v['best_baseline']} {v['best_accuracy']:.4f} | {v['margin']:+.4f} | "
                f"{verdict} |"
            )
        lines.append("")
    checks = check_rules(rows)
    if checks:
        lines += [
            "## Rules: does crowdclean pass its own bar?",
            "",
            "Checked cell by cell by `orchestrator.bench.rules` on the rows above (mean label "
            "accuracy over the seeds both methods ran).",
            "",
            *rules_table(checks),
            "",
        ]
    cells = sorted({(d, n) for d, n, _b, _m in summary})
    for d, n in cells:
        budgets = sorted({b for dd, nn, b, _m in summary if (dd, nn) == (d, n)})
        methods = _order({m for dd, nn, _b, m in summary if (dd, nn) == (d, n)})
        cmds = sorted({r.get("command", "") for r in rows if (r["dataset"], r["noise"]) == (d, n)})
        lines += [f"## {d}, {n} noise", ""]
        lines += (
            ["Produced by:", "", "```"]
            + [c or "(command not recorded)" for c in cmds]
            + ["```", ""]
        )
        any_row = next(s for (dd, nn, _b, _m), s in summary.items() if (dd, nn) == (d, n))
        lines.append(
            f"Noisy-label accuracy {_fmt(any_row['accuracy_noisy'], digits=4)}. "
            "Label accuracy against gold over all items, mean ± std over seeds:"
        )
        lines += [""]
        lines.append("| method | " + " | ".join(f"{100 * b:g} %" for b in budgets) + " |")
        lines.append("|---|" + "---|" * len(budgets))
        for m in methods:
            cells_txt = [
                _fmt(summary[(d, n, b, m)]["accuracy"], digits=4)
                if (d, n, b, m) in summary
                else "–"
                for b in budgets
            ]
            name = f"**{m}**" if m == CROWDCLEAN else m
            lines.append(f"| {name} | " + " | ".join(cells_txt) + " |")
        lines.append("")
        for b in budgets:
            here = [m for m in methods if (d, n, b, m) in summary]
            s0 = summary[(d, n, b, here[0])]
            lines += [
                f"Details at {100 * b:g} % (budget ${s0['budget_usd'][0]:.2f}):",
                "",
                "| method | accuracy | macro AUC | noisy-hit rate | spend $ | seconds | "
                "downstream acc. | inspected |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for m in here:
                s = summary[(d, n, b, m)]
                lines.append(
                    f"| {m} | {_fmt(s['accuracy'], digits=4)} | {_fmt(s['auc'])} | "
                    f"{_fmt(s['noisy_hit_rate'], digits=2)} | {_fmt(s['spend_usd'], digits=2)} | "
                    f"{_fmt(s['seconds'], digits=0)} | {_fmt(s['downstream_accuracy'])} | "
                    f"{_fmt(s['n_inspected'], digits=0)} |"
                )
            lines.append("")
        if plots and len(budgets) >= 1:
            slug = re.sub(r"[^A-Za-z0-9.]+", "-", f"{d}-{n}").strip("-")
            png = results_dir / f"bench-{slug}.png"
            _plot(summary, d, n, png)
            lines += [f"![accuracy against budget]({png.name})", ""]
    missing = missing_cells(rows)
    if missing:
        lines += [
            "## Cells not yet run on the full pool with 3 seeds",
            "",
            "Each command resumes: rows already under `benchmarks/bench/` are skipped.",
            "",
            *missing,
            "",
        ]
    path = results_dir / "bench.md"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path
